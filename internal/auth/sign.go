package auth

import "github.com/golang-jwt/jwt/v5"

// SignHS256 signs claims with secret. Dev mode uses it to print a ready token;
// tests use it through authtest.
func SignHS256(secret []byte, claims map[string]any) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
}
