package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestKeyForAlg(t *testing.T) {
	rsaKey, err1 := rsa.GenerateKey(rand.Reader, 2048)
	p256, err2 := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, err3 := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, err4 := ed25519.GenerateKey(rand.Reader)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	set := jwt.VerificationKeySet{Keys: []jwt.VerificationKey{&rsaKey.PublicKey, &p256.PublicKey, edPub}}

	tests := []struct {
		name string
		alg  string
		key  any
		ok   bool
	}{
		{"RS256RSA", "RS256", &rsaKey.PublicKey, true},
		{"ES256P256", "ES256", &p256.PublicKey, true},
		{"EdDSAEd25519", "EdDSA", edPub, true},
		{"ErrES256P384", "ES256", &p384.PublicKey, false},
		{"ErrRS256ECDSA", "RS256", &p256.PublicKey, false},
		{"ErrEdDSARSA", "EdDSA", &rsaKey.PublicKey, false},
		{"ErrHS256Bytes", "HS256", []byte("symmetric key from a JWKS"), false},
		{"ErrRS256Bytes", "RS256", []byte("symmetric key from a JWKS"), false},
		{"SetNarrowed", "ES256", set, true},
		{"ErrSetWithoutFit", "ES256", jwt.VerificationKeySet{Keys: []jwt.VerificationKey{edPub}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyForAlg(tt.alg, tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("keyForAlg(%s, %T) error = %v, want ok=%v", tt.alg, tt.key, err, tt.ok)
			}
			if s, isSet := got.(jwt.VerificationKeySet); isSet && len(s.Keys) != 1 {
				t.Fatalf("set narrowed to %d keys, want 1", len(s.Keys))
			}
		})
	}
}
