// Package authtest makes tokens for tests: HS256 tokens and a JWKS server whose
// RSA, ECDSA P-256 and Ed25519 keys sign RS256, ES256 and EdDSA tokens. It is
// imported only by tests (of auth, the HTTP layer and the end-to-end suite).
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/auth"
)

// Key ids published by a JWKSServer.
const (
	KidRSA     = "test-rsa"
	KidECDSA   = "test-ecdsa"
	KidEd25519 = "test-ed25519"
)

// UserClaims are the claims of a user token of org orgID, valid for an hour.
func UserClaims(sub, orgID string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, auth.DefaultOrgClaim: orgID, "exp": time.Now().Add(time.Hour).Unix()}
}

// ServiceClaims are the claims of a service token without an org, valid for
// an hour, granted scopes.
func ServiceClaims(sub string, scopes ...string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "scope": scopes, "exp": time.Now().Add(time.Hour).Unix()}
}

// HS256Token signs claims with secret.
func HS256Token(tb testing.TB, secret []byte, claims jwt.MapClaims) string {
	tb.Helper()
	token, err := auth.SignHS256(secret, claims)
	if err != nil {
		tb.Fatalf("sign HS256 token: %v", err)
	}
	return token
}

type keys struct {
	rsa     *rsa.PrivateKey
	ecdsa   *ecdsa.PrivateKey
	ed25519 ed25519.PrivateKey
}

// testKeys are generated once per test binary: RSA generation is slow, and
// every JWKS server may as well publish the same keys.
var testKeys = sync.OnceValues(func() (keys, error) {
	var k keys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return k, err
	}
	if k.ecdsa, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return k, err
	}
	_, k.ed25519, err = ed25519.GenerateKey(rand.Reader)
	return k, err
})

// JWKSServer is an httptest server publishing a JWK Set.
type JWKSServer struct {
	tb       testing.TB
	srv      *httptest.Server
	keys     keys
	requests atomic.Int64
}

// NewJWKSServer starts a JWKS server, closed when the test ends.
func NewJWKSServer(tb testing.TB) *JWKSServer {
	tb.Helper()
	k, err := testKeys()
	if err != nil {
		tb.Fatalf("generate keys: %v", err)
	}
	store := jwkset.NewMemoryStorage()
	for _, pk := range []struct {
		key crypto.PublicKey
		kid string
		alg jwkset.ALG
	}{
		{k.rsa.Public(), KidRSA, jwkset.AlgRS256},
		{k.ecdsa.Public(), KidECDSA, jwkset.AlgES256},
		{k.ed25519.Public(), KidEd25519, jwkset.AlgEdDSA},
	} {
		jwk, err := jwkset.NewJWKFromKey(pk.key, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: pk.kid, ALG: pk.alg, USE: jwkset.UseSig},
		})
		if err != nil {
			tb.Fatalf("JWK %s: %v", pk.kid, err)
		}
		if err := store.KeyWrite(tb.Context(), jwk); err != nil {
			tb.Fatalf("JWK %s: %v", pk.kid, err)
		}
	}
	body, err := store.JSONPublic(tb.Context())
	if err != nil {
		tb.Fatalf("JWKS: %v", err)
	}
	s := &JWKSServer{tb: tb, keys: k}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the JWKS URL, for AUTH_JWKS_URL.
func (s *JWKSServer) URL() string { return s.srv.URL + "/.well-known/jwks.json" }

// Requests is how often the key set was fetched.
func (s *JWKSServer) Requests() int { return int(s.requests.Load()) }

// RSAPublicKeyPEM is the published RSA key as PEM: the bytes an attacker would
// use as an HS256 secret in an algorithm-confusion attack.
func (s *JWKSServer) RSAPublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(s.keys.rsa.Public())
	if err != nil {
		s.tb.Fatalf("marshal RSA key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// SignRS256 signs claims with the RSA key, kid KidRSA.
func (s *JWKSServer) SignRS256(claims jwt.MapClaims) string {
	return s.Sign(jwt.SigningMethodRS256, KidRSA, claims)
}

// SignES256 signs claims with the ECDSA P-256 key, kid KidECDSA.
func (s *JWKSServer) SignES256(claims jwt.MapClaims) string {
	return s.Sign(jwt.SigningMethodES256, KidECDSA, claims)
}

// SignEdDSA signs claims with the Ed25519 key, kid KidEd25519.
func (s *JWKSServer) SignEdDSA(claims jwt.MapClaims) string {
	return s.Sign(jwt.SigningMethodEdDSA, KidEd25519, claims)
}

// Sign signs claims with the server's key for method, under any kid ("" for
// none): for tests of unknown or missing kids.
func (s *JWKSServer) Sign(method jwt.SigningMethod, kid string, claims jwt.MapClaims) string {
	s.tb.Helper()
	var key crypto.Signer
	switch method {
	case jwt.SigningMethodRS256:
		key = s.keys.rsa
	case jwt.SigningMethodES256:
		key = s.keys.ecdsa
	case jwt.SigningMethodEdDSA:
		key = s.keys.ed25519
	default:
		s.tb.Fatalf("authtest: no key for %s", method.Alg())
	}
	t := jwt.NewWithClaims(method, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	token, err := t.SignedString(key)
	if err != nil {
		s.tb.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	return token
}
