// Package auth owns bearer-token authentication: it verifies a JWT (HS256 with
// a shared secret, or RS256/ES256/EdDSA against a refreshed, cached JWKS) and
// turns its claims into a Principal. A token over [MaxTokenBytes] is refused
// before any of it is decoded; one with a JWS "crit" header is refused too,
// since billingd understands no extension. It decides who the caller is, never what
// the caller may do: missing org claims and scopes are for the HTTP layer to
// judge.
//
// It must not import Echo, GORM, stripe-go or the domain: it is a leaf that the
// HTTP layer and the dev-token generator build on. Package authtest holds the
// token and JWKS helpers for tests.
package auth
