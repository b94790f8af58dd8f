package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/devmode"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/stripe/stripemock"
)

// Identities of dev tokens.
const (
	devOrg   = "org_dev" // the default of `billingd token` and send-webhook
	devUser  = "user_dev"
	devEmail = "dev@example.com"
)

// devPayTimeout bounds each webhook the dev page's Pay sends to billingd itself.
const devPayTimeout = 10 * time.Second

// devTokenTTL is how long the tokens dev mode prints stay valid.
const devTokenTTL = 24 * time.Hour

// dev serves in dev mode, or with `dev token` mints a token for it.
//
// Dev mode keeps its SQLite file and its generated secrets in a directory
// (-dir), so that a rerun still accepts the tokens and signed webhooks of the
// last one; each run prints a token for a fresh org, so the printed checkout
// works on a rerun too. Stripe is stripe-mock unless STRIPE_SECRET_KEY or
// STRIPE_API_BASE is set; variables set in the environment win over every
// dev default.
func dev(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		return devToken(args[1:], getenv, stdout)
	}
	fs := flag.NewFlagSet("billingd dev", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dir := fs.String("dir", defaultDevDir, "directory for dev mode's database and secrets; delete it to start over")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("billingd dev: unexpected argument %q (configure it with environment variables; `billingd dev token` mints a token)", fs.Arg(0))
	}
	secrets, created, err := loadOrCreateDevSecrets(*dir)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "billingd dev: first run here: state kept in %s (delete it to start over)\n", *dir)
	}
	devEnv := map[string]string{
		"DATABASE_URL":          devDatabaseURL(*dir),
		"STRIPE_SECRET_KEY":     "sk_test_billingddevmode",
		"STRIPE_WEBHOOK_SECRET": secrets.WebhookSecret,
		"AUTH_JWT_SECRET":       secrets.JWTSecret,
		// No load balancer to drain in dev mode: Ctrl-C stops at once.
		"SHUTDOWN_DELAY": "0s",
	}
	devEnv["ALLOWED_REDIRECT_ORIGINS"] = devOrigins(getenv)
	if getenv("STRIPE_SECRET_KEY") == "" && getenv("STRIPE_API_BASE") == "" {
		fmt.Fprintln(stdout, "billingd dev: starting stripe-mock; the first run compiles it, which takes a few minutes on a small machine…")
		startCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
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
	go func() {
		served <- serve(ctx, env, stdout, serveHooks{listening: listening, devMode: newDevMode})
	}()
	select {
	case err := <-served:
		return err
	case addr := <-listening:
		if err := printDevBanner(stdout, env, *dir, addr); err != nil {
			return err
		}
	}
	return <-served
}

// devOrigins are dev mode's default redirect (and so CORS) origins: the app's,
// a Vite dev server's, and billingd's own, which serves the dev page.
func devOrigins(getenv func(string) string) string {
	port := strings.TrimSpace(getenv("PORT"))
	if port == "" {
		port = "8080"
	}
	origins := []string{"http://localhost:3000", "http://localhost:5173", "http://localhost:" + port, "http://127.0.0.1:" + port}
	if o, err := config.Origin(getenv("APP_URL")); err == nil {
		origins = append([]string{o}, origins...)
	}
	return strings.Join(origins, ",")
}

// newDevMode is dev mode's extra surface: the dev pages, and a Pay button
// that sends the signed webhooks to this process's own webhook endpoint.
func newDevMode(cfg config.Config, svc *billing.Service, webhookURL string) *httpapi.DevMode {
	payer := devmode.New(devmode.Options{
		Service: svc, Catalog: cfg.Catalog, WebhookURL: webhookURL, WebhookSecret: cfg.StripeWebhookSecret,
		HTTPClient: &http.Client{Timeout: devPayTimeout},
	})
	return &httpapi.DevMode{Pages: devmode.Pages(), Pay: payer.Pay}
}

// devToken mints a token for any org with dev mode's secret (or
// AUTH_JWT_SECRET, when set, as dev mode itself would use it).
func devToken(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("billingd dev token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dir := fs.String("dir", defaultDevDir, "dev mode's directory")
	claims := addTokenFlags(fs, devOrg, devTokenTTL)
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv("AUTH_JWT_SECRET")
	if secret == "" {
		s, err := readDevSecrets(*dir)
		if err != nil {
			return err
		}
		secret = s.JWTSecret
	}
	return claims.print(stdout, secret, getenv)
}

func printDevBanner(w io.Writer, env func(string) string, dir, addr string) error {
	org := "org_dev_" + randomHex(3)
	orgClaim := env("AUTH_ORG_CLAIM")
	if orgClaim == "" {
		orgClaim = auth.DefaultOrgClaim
	}
	now := time.Now()
	token, err := auth.SignHS256([]byte(env("AUTH_JWT_SECRET")), map[string]any{
		"sub": devUser, orgClaim: org, "email": devEmail, "iat": now.Unix(), "exp": now.Add(devTokenTTL).Unix(),
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
		"  state:    " + dir + " (database and secrets; delete it to start over)",
		"  stripe:   " + stripeTarget,
		"  org:      " + org + " (new each run; `go run ./cmd/billingd dev token -org ID` mints a token for any org)",
		"",
		"  In a browser: " + base + "/dev/#token=" + token,
		"",
		"  export TOKEN=" + token,
		"",
		"  # 1. start a checkout (copy sessionId from the answer)",
		`  curl -s -X POST ` + base + `/api/billing/checkout -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"plan":"pro"}'`,
		"",
		"  # 2. play Stripe: send the signed webhooks a paid checkout produces",
		"  go run ./cmd/billingd send-webhook -url " + base + "/webhooks/stripe -secret " + env("STRIPE_WEBHOOK_SECRET") + " -org " + org + " -session SESSION_ID",
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
