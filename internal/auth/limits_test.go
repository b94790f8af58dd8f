package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
)

// tokenOfSize returns sign(claims plus a "pad" claim) exactly size bytes long.
// base64url makes 4 bytes of 3 and cannot reach every length, so sign gets a
// variant too, to change another part of the token when the pad cannot.
func tokenOfSize(t *testing.T, size int, sign func(c jwt.MapClaims, variant int) string) string {
	t.Helper()
	for variant := range 4 {
		for pad := max(0, size*3/4-400); pad < size; pad++ {
			tok := sign(claims("pad", strings.Repeat("p", pad)), variant)
			if len(tok) == size {
				return tok
			}
			if len(tok) > size {
				break
			}
		}
	}
	t.Fatalf("no pad gives a %d-byte token", size)
	return ""
}

func TestVerify_TokenSize(t *testing.T) {
	hs := func(c jwt.MapClaims, variant int) string {
		c["v"] = strings.Repeat("v", variant)
		return authtest.HS256Token(t, secret, c)
	}
	v, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ExactlyTheLimitVerifies", func(t *testing.T) {
		if _, err := v.Verify(t.Context(), tokenOfSize(t, auth.MaxTokenBytes, hs)); err != nil {
			t.Fatalf("a valid %d-byte token: %v", auth.MaxTokenBytes, err)
		}
	})
	t.Run("ErrOneByteOver", func(t *testing.T) {
		_, err := v.Verify(t.Context(), tokenOfSize(t, auth.MaxTokenBytes+1, hs))
		if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, auth.ErrTokenTooLarge) {
			t.Fatalf("a valid %d-byte token: %v, want ErrTokenTooLarge", auth.MaxTokenBytes+1, err)
		}
	})
	t.Run("ErrOversizedGarbageIsNotDecoded", func(t *testing.T) {
		// Parsed, this would be ErrTokenMalformed.
		_, err := v.Verify(t.Context(), strings.Repeat("!", auth.MaxTokenBytes+1))
		if !errors.Is(err, auth.ErrTokenTooLarge) || errors.Is(err, jwt.ErrTokenMalformed) {
			t.Fatalf("Verify = %v, want ErrTokenTooLarge and nothing from the parser", err)
		}
	})
}

// TestVerify_OversizedTokenLooksUpNoKey shows the size check comes before
// parsing: an unknown kid, once parsed, makes the verifier refetch the JWKS.
func TestVerify_OversizedTokenLooksUpNoKey(t *testing.T) {
	jwks := authtest.NewJWKSServer(t)
	v, err := auth.NewVerifier(t.Context(), auth.Options{JWKSURL: jwks.URL()})
	if err != nil {
		t.Fatal(err)
	}
	unknownKid := func(c jwt.MapClaims, variant int) string {
		return jwks.Sign(jwt.SigningMethodRS256, "rotated-away"+strings.Repeat("x", variant), c)
	}
	fetched := jwks.Requests()

	if _, err := v.Verify(t.Context(), tokenOfSize(t, auth.MaxTokenBytes+1, unknownKid)); !errors.Is(err, auth.ErrTokenTooLarge) {
		t.Fatalf("Verify = %v, want ErrTokenTooLarge", err)
	}
	if n := jwks.Requests(); n != fetched {
		t.Fatalf("an oversized token made %d JWKS fetches", n-fetched)
	}
	// The same at the limit is parsed and looks its kid up: the probe works.
	if _, err := v.Verify(t.Context(), tokenOfSize(t, auth.MaxTokenBytes, unknownKid)); errors.Is(err, auth.ErrTokenTooLarge) || err == nil {
		t.Fatalf("Verify = %v, want an unknown-kid failure", err)
	}
	if n := jwks.Requests(); n != fetched+1 {
		t.Fatalf("a %d-byte token with an unknown kid made %d JWKS fetches, want 1", auth.MaxTokenBytes, n-fetched)
	}
}

func TestVerify_CriticalHeader(t *testing.T) {
	v, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	withCrit := func(crit any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
		tok.Header["crit"] = crit
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		crit any
	}{
		{"ErrUnknownExtension", []string{"b64"}},
		{"ErrRegisteredName", []string{"alg"}},
		{"ErrEmptyList", []string{}},
		{"ErrNotAList", "b64"},
		{"ErrNull", nil},
		{"ErrNotStrings", []any{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), withCrit(tc.crit))
			if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, auth.ErrCriticalHeader) {
				t.Fatalf("crit %#v: Verify = %v, want ErrCriticalHeader", tc.crit, err)
			}
		})
	}
	t.Run("WithoutCritVerifies", func(t *testing.T) {
		if _, err := v.Verify(t.Context(), authtest.HS256Token(t, secret, claims())); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerify_ErrNULInClaim(t *testing.T) {
	v, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sub", "org_id", "email"} {
		t.Run(name, func(t *testing.T) {
			tok := authtest.HS256Token(t, secret, claims(name, "a\x00b"))
			if _, err := v.Verify(t.Context(), tok); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "NUL") {
				t.Fatalf("NUL in %s: Verify = %v, want ErrUnauthenticated", name, err)
			}
		})
	}
}
