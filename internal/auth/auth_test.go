package auth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
)

var secret = []byte("test-secret-0123456789-0123456789-abcdef")

func claims(kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "user_1", "org_id": "org_1", "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func ago(d time.Duration) int64 { return time.Now().Add(-d).Unix() }

func TestVerify(t *testing.T) {
	jwks := authtest.NewJWKSServer(t)
	hs := func(c jwt.MapClaims) string { return authtest.HS256Token(t, secret, c) }
	hsOnly := auth.Options{HS256Secret: secret}
	jwksOnly := auth.Options{JWKSURL: jwks.URL()}
	both := auth.Options{HS256Secret: secret, JWKSURL: jwks.URL()}
	user := auth.Principal{Subject: "user_1", OrgID: "org_1"}

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
	confused.Header["kid"] = authtest.KidRSA
	confusedToken, err := confused.SignedString(jwks.RSAPublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		opts    auth.Options
		token   string
		want    auth.Principal
		wantErr error // nil: the token verifies; else a reason wrapped with ErrUnauthenticated
	}{
		{name: "HS256UserToken", opts: hsOnly,
			token: hs(claims("email", "a@example.com", "org_role", "admin")),
			want:  auth.Principal{Subject: "user_1", OrgID: "org_1", Email: "a@example.com", OrgRole: "admin"}},
		{name: "RS256ViaJWKS", opts: jwksOnly, token: jwks.SignRS256(claims()), want: user},
		{name: "ES256ViaJWKS", opts: jwksOnly, token: jwks.SignES256(claims()), want: user},
		{name: "EdDSAViaJWKS", opts: jwksOnly, token: jwks.SignEdDSA(claims()), want: user},
		{name: "RS256WithoutKid", opts: jwksOnly, token: jwks.Sign(jwt.SigningMethodRS256, "", claims()), want: user},
		{name: "BothConfiguredHS256", opts: both, token: hs(claims()), want: user},
		{name: "BothConfiguredEdDSA", opts: both, token: jwks.SignEdDSA(claims()), want: user},

		{name: "ErrAlgNone", opts: both, token: none, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "ErrHS256SignedWithRSAPublicKeyJWKSOnly", opts: jwksOnly, token: confusedToken, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "ErrHS256SignedWithRSAPublicKeyBoth", opts: both, token: confusedToken, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "ErrRS256WhenOnlyHS256", opts: hsOnly, token: jwks.SignRS256(claims()), wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "ErrKidOfAnotherKeyType", opts: jwksOnly, token: jwks.Sign(jwt.SigningMethodRS256, authtest.KidECDSA, claims()), wantErr: jwt.ErrTokenUnverifiable},
		{name: "ErrUnknownKid", opts: jwksOnly, token: jwks.Sign(jwt.SigningMethodRS256, "unknown", claims()), wantErr: jwt.ErrTokenUnverifiable},
		{name: "ErrWrongHS256Secret", opts: hsOnly, token: authtest.HS256Token(t, []byte("another-secret-0123456789-0123456789"), claims()), wantErr: jwt.ErrTokenSignatureInvalid},

		{name: "ErrExpired", opts: hsOnly, token: hs(claims("exp", ago(time.Minute))), wantErr: jwt.ErrTokenExpired},
		{name: "ErrMissingExp", opts: hsOnly, token: hs(claims("exp", nil)), wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "LeewayHonoured", opts: hsOnly, token: hs(claims("exp", ago(10*time.Second))), want: user},
		{name: "ErrNoLeeway", opts: auth.Options{HS256Secret: secret, Leeway: -1}, token: hs(claims("exp", ago(10*time.Second))), wantErr: jwt.ErrTokenExpired},
		{name: "ErrNotYetValid", opts: hsOnly, token: hs(claims("nbf", time.Now().Add(time.Hour).Unix())), wantErr: jwt.ErrTokenNotValidYet},

		{name: "IssuerAudienceChecked", opts: auth.Options{HS256Secret: secret, Issuer: "https://idp.example.com", Audience: "billingd"},
			token: hs(claims("iss", "https://idp.example.com", "aud", []string{"other", "billingd"})), want: withIssuer(user, "https://idp.example.com")},
		{name: "ErrWrongIssuer", opts: auth.Options{HS256Secret: secret, Issuer: "https://idp.example.com"},
			token: hs(claims("iss", "https://evil.example.com")), wantErr: jwt.ErrTokenInvalidIssuer},
		{name: "ErrMissingIssuer", opts: auth.Options{HS256Secret: secret, Issuer: "https://idp.example.com"},
			token: hs(claims()), wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "ErrWrongAudience", opts: auth.Options{HS256Secret: secret, Audience: "billingd"},
			token: hs(claims("aud", "another-api")), wantErr: jwt.ErrTokenInvalidAudience},
		{name: "IssuerAudienceIgnoredWhenNotConfigured", opts: hsOnly,
			token: hs(claims("iss", "anyone", "aud", "anything")), want: withIssuer(user, "anyone")},

		{name: "CustomOrgClaim", opts: auth.Options{HS256Secret: secret, OrgClaim: "https://example.com/org"},
			token: hs(claims("https://example.com/org", "org_custom")), want: auth.Principal{Subject: "user_1", OrgID: "org_custom"}},
		{name: "MissingOrgClaimIsNoError", opts: hsOnly, token: hs(claims("org_id", nil)), want: auth.Principal{Subject: "user_1"}},
		{name: "ErrOrgClaimNotAString", opts: hsOnly, token: hs(claims("org_id", 42)), wantErr: auth.ErrUnauthenticated},

		{name: "ScopesAsString", opts: hsOnly, token: hs(claims("org_id", nil, "scope", "billing:read  other")),
			want: auth.Principal{Subject: "user_1", Scopes: []string{"billing:read", "other"}}},
		{name: "ScopesAsArray", opts: hsOnly, token: hs(claims("org_id", nil, "scope", []string{"billing:read", "other"})),
			want: auth.Principal{Subject: "user_1", Scopes: []string{"billing:read", "other"}}},
		{name: "ScopesFromScp", opts: hsOnly, token: hs(claims("org_id", nil, "scope", "a", "scp", []string{"billing:read", "a"})),
			want: auth.Principal{Subject: "user_1", Scopes: []string{"a", "billing:read"}}},
		{name: "ErrScopeNotStrings", opts: hsOnly, token: hs(claims("scope", []any{"a", 1})), wantErr: auth.ErrUnauthenticated},

		{name: "ErrGarbage", opts: both, token: "not-a-jwt", wantErr: jwt.ErrTokenMalformed},
		{name: "ErrGarbageSegments", opts: both, token: "aaa.bbb.ccc", wantErr: jwt.ErrTokenMalformed},
		{name: "ErrEmpty", opts: both, token: "", wantErr: auth.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.NewVerifier(t.Context(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), tt.token)
			// A token that verified is remembered: the second answer must be
			// the first, whether it comes from the cache or not.
			again, errAgain := v.Verify(t.Context(), tt.token)
			if !reflect.DeepEqual(again, got) || (errAgain == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(errAgain, tt.wantErr)) {
				t.Fatalf("second Verify = %+v, %v; first = %+v, %v", again, errAgain, got, err)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("Principal = %+v, want %+v", got, tt.want)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want ErrUnauthenticated wrapping %v", err, tt.wantErr)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatalf("error %q contains the token", err)
			}
		})
	}
}

func TestVerify_RememberedTokens(t *testing.T) {
	t.Run("StillExpire", func(t *testing.T) {
		v, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: secret, Leeway: -1})
		if err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second) // 1–2 s ahead
		token := authtest.HS256Token(t, secret, claims("exp", exp.Unix()))
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatalf("Verify before exp: %v", err)
		}
		time.Sleep(time.Until(exp) + 50*time.Millisecond)
		if _, err := v.Verify(t.Context(), token); !errors.Is(err, jwt.ErrTokenExpired) {
			t.Fatalf("Verify of a remembered token after its exp: %v, want ErrTokenExpired", err)
		}
	})
	t.Run("EachCallerGetsItsOwnScopes", func(t *testing.T) {
		v, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		token := authtest.HS256Token(t, secret, claims("scope", "billing:read"))
		first, err := v.Verify(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		first.Scopes[0] = "changed"
		again, err := v.Verify(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again.Scopes, []string{"billing:read"}) {
			t.Fatalf("Scopes after a caller changed its copy = %v", again.Scopes)
		}
	})
	t.Run("TamperedTextIsCheckedAgain", func(t *testing.T) {
		v, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		token := authtest.HS256Token(t, secret, claims())
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatal(err)
		}
		forged := authtest.HS256Token(t, []byte("another-secret-0123456789-0123456789"), claims())
		if _, err := v.Verify(t.Context(), forged); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Fatalf("Verify of the same claims signed with another secret: %v", err)
		}
	})
}

func TestVerifierJWKS(t *testing.T) {
	t.Run("KeySetFetchedOnceAndCached", func(t *testing.T) {
		jwks := authtest.NewJWKSServer(t)
		v, err := auth.NewVerifier(t.Context(), auth.Options{JWKSURL: jwks.URL()})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := v.Verify(t.Context(), jwks.SignES256(claims())); err != nil {
				t.Fatal(err)
			}
		}
		if n := jwks.Requests(); n != 1 {
			t.Fatalf("JWKS fetched %d times, want 1", n)
		}
	})
	t.Run("UnknownKidsFailFast", func(t *testing.T) {
		// The first unknown kid refreshes the set; later ones are rate limited
		// and must fail without holding the request or hammering the JWKS.
		jwks := authtest.NewJWKSServer(t)
		v, err := auth.NewVerifier(t.Context(), auth.Options{JWKSURL: jwks.URL()})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for range 3 {
			if _, err := v.Verify(t.Context(), jwks.Sign(jwt.SigningMethodRS256, "rotated-away", claims())); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Verify error = %v, want ErrUnauthenticated", err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("three unknown kids took %s", d)
		}
		if n := jwks.Requests(); n != 2 {
			t.Fatalf("JWKS fetched %d times, want 2 (start + one refresh)", n)
		}
	})
}

func TestNewVerifier(t *testing.T) {
	t.Run("ErrNoKeySource", func(t *testing.T) {
		if _, err := auth.NewVerifier(t.Context(), auth.Options{}); err == nil {
			t.Fatal("want an error without secret and JWKS URL")
		}
	})
	t.Run("ErrShortSecret", func(t *testing.T) {
		if _, err := auth.NewVerifier(t.Context(), auth.Options{HS256Secret: []byte("short")}); err == nil {
			t.Fatal("want an error for a 5-byte secret")
		}
	})
}

func TestPrincipalHasScope(t *testing.T) {
	p := auth.Principal{Scopes: []string{"billing:read", "x"}}
	if !p.HasScope(auth.ScopeBillingRead) || p.HasScope("billing:write") || (auth.Principal{}).HasScope(auth.ScopeBillingRead) {
		t.Fatal("HasScope is wrong")
	}
}

func withIssuer(p auth.Principal, iss string) auth.Principal {
	p.Issuer = iss
	return p
}
