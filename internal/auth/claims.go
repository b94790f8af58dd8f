package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// principalFrom reads the claims billingd uses. A claim of the wrong type makes
// the token invalid rather than silently absent, and so does a NUL in one:
// claims become database values, and PostgreSQL cannot store it. (Decoding
// already replaced invalid UTF-8.)
func principalFrom(claims jwt.MapClaims, orgClaim string) (Principal, error) {
	var p Principal
	var err error
	// One call per claim, in this order, rather than a loop over pointers
	// into p, which would move p to the heap on every request.
	if p.Issuer, err = stringClaim(claims, "iss"); err != nil {
		return Principal{}, err
	}
	if p.Subject, err = stringClaim(claims, "sub"); err != nil {
		return Principal{}, err
	}
	if p.OrgID, err = stringClaim(claims, orgClaim); err != nil {
		return Principal{}, err
	}
	if p.Email, err = stringClaim(claims, "email"); err != nil {
		return Principal{}, err
	}
	if p.OrgRole, err = stringClaim(claims, "org_role"); err != nil {
		return Principal{}, err
	}
	for _, name := range [...]string{"scope", "scp"} {
		scopes, err := scopeClaim(claims, name)
		if err != nil {
			return Principal{}, err
		}
		for _, s := range scopes {
			if !slices.Contains(p.Scopes, s) {
				p.Scopes = append(p.Scopes, s)
			}
		}
	}
	return p, nil
}

func stringClaim(claims jwt.MapClaims, name string) (string, error) {
	switch v := claims[name].(type) {
	case nil:
		return "", nil
	case string:
		if strings.ContainsRune(v, 0) {
			return "", fmt.Errorf("claim %q contains a NUL byte", name)
		}
		return v, nil
	default:
		return "", fmt.Errorf("claim %q is a %T, not a string", name, v)
	}
}

// scopeClaim reads an OAuth scope claim: a space-separated string (RFC 8693)
// or an array of strings (as some providers send scp).
func scopeClaim(claims jwt.MapClaims, name string) ([]string, error) {
	switch v := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("claim %q holds a %T, not a string", name, s)
			}
			out = append(out, strings.Fields(str)...)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("claim %q is a %T, not a string or an array", name, v)
	}
}
