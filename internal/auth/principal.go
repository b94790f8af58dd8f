package auth

import "slices"

// ScopeBillingRead lets a service token read the entitlement and payments of
// any org. A token with it is a service token.
const ScopeBillingRead = "billing:read"

// Principal is the verified caller.
type Principal struct {
	Issuer  string // iss, optional: who vouches for Subject
	Subject string // sub: the user id, or the client id of a service
	// OrgID is the value of the configured org claim; "" when the token has
	// none (service tokens), which is not an authentication failure.
	OrgID   string
	Email   string   // email, optional
	OrgRole string   // org_role, optional
	Scopes  []string // from scope (space-separated or array) and scp
}

// HasScope reports whether the token was granted scope s.
func (p Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// IsService reports whether the token is a backend service's: one with the
// billing:read scope. Services read any org and have their own rate limit.
func (p Principal) IsService() bool { return p.HasScope(ScopeBillingRead) }
