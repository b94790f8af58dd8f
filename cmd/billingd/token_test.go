package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/auth"
)

func TestToken(t *testing.T) {
	env := map[string]string{"AUTH_JWT_SECRET": randomHex(32), "AUTH_ISSUER": "https://idp.example.com", "AUTH_AUDIENCE": "billingd"}
	verifier, err := auth.NewVerifier(context.Background(), auth.Options{
		HS256Secret: []byte(env["AUTH_JWT_SECRET"]), Issuer: env["AUTH_ISSUER"], Audience: env["AUTH_AUDIENCE"],
	})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(t *testing.T, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"billingd", "token"}, args...), getenvFrom(env), &out, &out)
		return strings.TrimSpace(out.String()), err
	}

	t.Run("UserTokenTheServiceAccepts", func(t *testing.T) {
		tok, err := mint(t, "-org", "org_42", "-sub", "user_7")
		if err != nil {
			t.Fatal(err)
		}
		p, err := verifier.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("billingd refuses its own token: %v", err)
		}
		if p.OrgID != "org_42" || p.Subject != "user_7" || p.Issuer != env["AUTH_ISSUER"] {
			t.Fatalf("principal = %+v, want org_42/user_7 from the configured issuer", p)
		}
	})
	t.Run("ServiceTokenWithScope", func(t *testing.T) {
		tok, err := mint(t, "-org", "", "-sub", "svc_reports", "-scope", auth.ScopeBillingRead)
		if err != nil {
			t.Fatal(err)
		}
		p, err := verifier.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if p.OrgID != "" || !p.HasScope(auth.ScopeBillingRead) {
			t.Fatalf("principal = %+v, want no org and the %s scope", p, auth.ScopeBillingRead)
		}
	})
	t.Run("ErrNoSecret", func(t *testing.T) {
		delete(env, "AUTH_JWT_SECRET")
		if _, err := mint(t); err == nil || !strings.Contains(err.Error(), "AUTH_JWT_SECRET") {
			t.Fatalf("err = %v, want one naming AUTH_JWT_SECRET", err)
		}
	})
}
