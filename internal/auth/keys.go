package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// keyForAlg returns key if it is the right type for alg. A token without a kid
// gets the whole key set from keyfunc: it is narrowed to the keys of the right
// type, so the signature is only ever tried against those.
func keyForAlg(alg string, key any) (any, error) {
	if set, ok := key.(jwt.VerificationKeySet); ok {
		var fit jwt.VerificationKeySet
		for _, k := range set.Keys {
			if keyFits(alg, k) {
				fit.Keys = append(fit.Keys, k)
			}
		}
		if len(fit.Keys) == 0 {
			return nil, fmt.Errorf("no %s key in the JWKS", alg)
		}
		return fit, nil
	}
	if !keyFits(alg, key) {
		return nil, fmt.Errorf("the key for this kid is a %T, not a %s key", key, alg)
	}
	return key, nil
}

func keyFits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jwt.SigningMethodEdDSA.Alg()
	default:
		return false
	}
}
