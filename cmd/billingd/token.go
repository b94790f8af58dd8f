package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/auth"
)

// token prints an HS256 bearer token signed with AUTH_JWT_SECRET, so that a
// billingd outside dev mode (a replica, a compose stack) can be tried with curl.
func token(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("billingd token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	secret := fs.String("secret", getenv("AUTH_JWT_SECRET"), "HS256 secret (default $AUTH_JWT_SECRET)")
	claims := addTokenFlags(fs, devOrg, time.Hour)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("billingd token: -secret or AUTH_JWT_SECRET is required")
	}
	return claims.print(stdout, *secret, getenv)
}

// tokenClaims are the flags that say whom a token is for.
type tokenClaims struct {
	org, sub, scope *string
	ttl             *time.Duration
}

func addTokenFlags(fs *flag.FlagSet, defaultOrg string, defaultTTL time.Duration) tokenClaims {
	return tokenClaims{
		org:   fs.String("org", defaultOrg, "organization id (empty for a service token)"),
		sub:   fs.String("sub", devUser, "subject: a user id, or a service's client id"),
		scope: fs.String("scope", "", `space-separated scopes, e.g. "billing:read" for a service token`),
		ttl:   fs.Duration("ttl", defaultTTL, "lifetime"),
	}
}

// print signs what the service verifies — sub, the org claim, exp, and
// optionally scope, iss and aud as configured in getenv — and prints it.
func (t tokenClaims) print(stdout io.Writer, secret string, getenv func(string) string) error {
	orgClaim := strings.TrimSpace(getenv("AUTH_ORG_CLAIM"))
	if orgClaim == "" {
		orgClaim = auth.DefaultOrgClaim
	}
	now := time.Now()
	claims := map[string]any{"sub": *t.sub, "iat": now.Unix(), "exp": now.Add(*t.ttl).Unix()}
	if *t.org != "" {
		claims[orgClaim] = *t.org
	}
	if *t.scope != "" {
		claims["scope"] = *t.scope
	}
	for claim, variable := range map[string]string{"iss": "AUTH_ISSUER", "aud": "AUTH_AUDIENCE"} {
		if v := strings.TrimSpace(getenv(variable)); v != "" {
			claims[claim] = v
		}
	}
	signed, err := auth.SignHS256([]byte(secret), claims)
	if err != nil {
		return fmt.Errorf("billingd token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, signed)
	return err
}
