package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/stripe/stripemock"
)

// Identities of the printed dev token.
const (
	devOrg   = "org_dev"
	devUser  = "user_dev"
	devEmail = "dev@example.com"
)

// dev serves in dev mode: a SQLite file, stripe-mock as Stripe unless a key or
// STRIPE_API_BASE is given, and fresh secrets; it prints a token and the curl
// lines to try the whole flow. Variables set in the environment still win.
func dev(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("billingd dev: takes no arguments; configure it with environment variables")
	}
	devEnv := map[string]string{
		"DATABASE_URL":          "sqlite:billingd-dev.db",
		"STRIPE_SECRET_KEY":     "sk_test_billingddevmode",
		"STRIPE_WEBHOOK_SECRET": "whsec_" + randomHex(24),
		"AUTH_JWT_SECRET":       randomHex(32),
		// No load balancer to drain in dev mode: Ctrl-C stops at once.
		"SHUTDOWN_DELAY": "0s",
	}
	if getenv("STRIPE_SECRET_KEY") == "" && getenv("STRIPE_API_BASE") == "" {
		fmt.Fprintln(stdout, "billingd dev: starting stripe-mock (the first run compiles it, which takes a minute)…")
		startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		mock, err := stripemock.Start(startCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("billingd dev: %w (or set STRIPE_API_BASE to a running stripe-mock)", err)
		}
		defer mock.Close()
		devEnv["STRIPE_API_BASE"] = mock.URL
	}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return devEnv[k]
	}

	listening := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- serve(ctx, env, stdout, listening) }()
	select {
	case err := <-served:
		return err
	case addr := <-listening:
		if err := printDevBanner(stdout, env, addr); err != nil {
			return err
		}
	}
	return <-served
}

func printDevBanner(w io.Writer, env func(string) string, addr string) error {
	orgClaim := env("AUTH_ORG_CLAIM")
	if orgClaim == "" {
		orgClaim = auth.DefaultOrgClaim
	}
	token, err := auth.SignHS256([]byte(env("AUTH_JWT_SECRET")), map[string]any{
		"sub": devUser, orgClaim: devOrg, "email": devEmail,
		"iat": time.Now().Unix(), "exp": time.Now().Add(24 * time.Hour).Unix(),
	})
	if err != nil {
		return fmt.Errorf("billingd dev: sign token: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	base := "http://localhost:" + port
	stripeTarget := env("STRIPE_API_BASE")
	if stripeTarget == "" {
		stripeTarget = "Stripe (test key from STRIPE_SECRET_KEY)"
	}
	lines := []string{
		"",
		"================ billingd DEV MODE — not for production ================",
		"  database: " + env("DATABASE_URL"),
		"  stripe:   " + stripeTarget,
		"  secrets:  generated for this run only",
		"",
		"  export TOKEN=" + token,
		"",
		"  # 1. start a checkout (copy sessionId from the answer)",
		`  curl -s -X POST ` + base + `/api/billing/checkout -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"plan":"pro"}'`,
		"",
		"  # 2. play Stripe: send the signed webhooks a paid checkout produces",
		"  go run ./cmd/billingd send-webhook -url " + base + "/webhooks/stripe -secret " + env("STRIPE_WEBHOOK_SECRET") + " -org " + devOrg + " -session SESSION_ID",
		"",
		"  # 3. read the entitlement (plan: pro)",
		`  curl -s "` + base + `/api/billing/entitlement?session_id=SESSION_ID" -H "Authorization: Bearer $TOKEN"`,
		"=========================================================================",
		"",
	}
	_, err = fmt.Fprintln(w, strings.Join(lines, "\n"))
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
