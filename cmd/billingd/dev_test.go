package main

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// devRun is one `billingd dev` run, with what its banner printed.
type devRun struct {
	base    string
	dir     string
	token   string // export TOKEN=…
	org     string
	sendCmd []string // the send-webhook line, as arguments of run
	out     *syncBuffer
	stop    func() // ends the run (Ctrl-C) and checks it returned nil
}

var (
	bannerToken = regexp.MustCompile(`(?m)^\s+export TOKEN=(\S+)$`)
	bannerOrg   = regexp.MustCompile(`(?m)^\s+org:\s+(\S+)`)
	bannerSend  = regexp.MustCompile(`(?m)^\s+go run \./cmd/billingd (send-webhook .*)$`)
)

// startDev runs `billingd dev -dir dir` through run(), with stripe-mock and
// extraEnv, until the test ends, and reads its banner.
func startDev(t *testing.T, dir string, extraEnv map[string]string) *devRun {
	t.Helper()
	port := freePort(t)
	env := map[string]string{"PORT": strconv.Itoa(port), "STRIPE_API_BASE": stripetest.StartMock(t), "LOG_LEVEL": "warn"}
	for k, v := range extraEnv {
		env[k] = v
	}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"billingd", "dev", "-dir", dir}, getenvFrom(env), out, out) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dev mode returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitForReady(ctx, newClient(t), base+"/healthz", done); err != nil {
		t.Fatalf("dev mode did not start: %v\n%s", err, out)
	}
	deadline := time.Now().Add(readyTimeout)
	for !strings.Contains(out.String(), "=====\n") && time.Now().Before(deadline) {
		time.Sleep(readyPoll) // the banner follows the listening socket
	}
	banner := out.String()
	tok, org, send := bannerToken.FindStringSubmatch(banner), bannerOrg.FindStringSubmatch(banner), bannerSend.FindStringSubmatch(banner)
	if tok == nil || org == nil || send == nil {
		t.Fatalf("banner lacks the token, org or send-webhook line:\n%s", banner)
	}
	return &devRun{base: base, dir: dir, token: tok[1], org: org[1], sendCmd: append([]string{"billingd"}, strings.Fields(send[1])...), out: out, stop: stop}
}

// checkout runs the banner's first line: POST /api/billing/checkout.
func (d *devRun) checkout(t *testing.T, token string) response {
	t.Helper()
	return mustSend(t, newClient(t), d.base, request{method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`)})
}

// pay runs the banner's send-webhook line for sessionID.
func (d *devRun) pay(t *testing.T, sessionID string) string {
	t.Helper()
	args := make([]string, len(d.sendCmd))
	for i, a := range d.sendCmd {
		args[i] = strings.ReplaceAll(strings.ReplaceAll(a, "SESSION_ID", sessionID), "localhost", "127.0.0.1")
	}
	var out syncBuffer
	if err := run(context.Background(), args, getenvFrom(nil), &out, &out); err != nil {
		t.Fatalf("the printed send-webhook line failed: %v\n%s", err, out.String())
	}
	return out.String()
}

// mintToken runs `billingd dev token -org org` for the run's directory.
func (d *devRun) mintToken(t *testing.T, org string) string {
	t.Helper()
	var out syncBuffer
	if err := run(context.Background(), []string{"billingd", "dev", "token", "-dir", d.dir, "-org", org}, getenvFrom(nil), &out, &out); err != nil {
		t.Fatalf("billingd dev token: %v", err)
	}
	return strings.TrimSpace(out.String())
}

func (d *devRun) entitlement(t *testing.T, token string) entitlement {
	t.Helper()
	resp := mustSend(t, newClient(t), d.base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	return expect[entitlement](t, resp, http.StatusOK).Data
}

// TestDev_RerunWorksWithThePrintedCommands: a second `billingd dev` in the
// same directory keeps the first one's data and secrets, and its printed
// commands work again instead of answering 409 or 401.
func TestDev_RerunWorksWithThePrintedCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".billingd-dev")

	first := startDev(t, dir, nil)
	if !strings.Contains(first.out.String(), "first run") {
		t.Errorf("the first run does not say it created %s:\n%s", dir, first.out)
	}
	created := expect[checkoutCreated](t, first.checkout(t, first.token), http.StatusOK).Data
	if out := first.pay(t, created.SessionID); !strings.Contains(out, "applied") {
		t.Fatalf("send-webhook did not report the outcome:\n%s", out)
	}
	if ent := first.entitlement(t, first.token); ent.Plan != "pro" {
		t.Fatalf("after the printed flow the org is on %s, want pro", ent.Plan)
	}
	resp := mustSend(t, http.DefaultClient, first.base, request{method: http.MethodGet, path: "/dev/"}) // not in the contract
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), "Upgrade to Pro") {
		t.Fatalf("GET /dev/ in dev mode = %d, want the pricing page", resp.status)
	}
	first.stop() // Ctrl-C, then run it again in the same directory

	second := startDev(t, dir, nil)
	if second.org == first.org {
		t.Fatalf("the rerun prints the same org %s, whose checkout would be 409 ALREADY_SUBSCRIBED", first.org)
	}
	created = expect[checkoutCreated](t, second.checkout(t, second.token), http.StatusOK).Data
	second.pay(t, created.SessionID)
	if ent := second.entitlement(t, second.token); ent.Plan != "pro" {
		t.Fatalf("after the rerun's printed flow the org is on %s, want pro", ent.Plan)
	}
	if ent := second.entitlement(t, first.token); ent.Plan != "pro" || ent.OrganizationID != first.org {
		t.Fatalf("the first run's token on the rerun reads %+v, want %s on pro", ent, first.org)
	}

	t.Run("DevTokenForAnyOrg", func(t *testing.T) {
		if ent := second.entitlement(t, second.mintToken(t, "org_other")); ent.OrganizationID != "org_other" || ent.Plan != "free" {
			t.Fatalf("minted token reads %+v, want org_other on free", ent)
		}
	})
	t.Run("SendWebhookFindsTheDevSecret", func(t *testing.T) {
		created := expect[checkoutCreated](t, second.checkout(t, second.mintToken(t, "org_nosecret")), http.StatusOK).Data
		t.Chdir(filepath.Dir(dir)) // where dev mode ran, as the README's commands do
		var out syncBuffer
		args := []string{"billingd", "send-webhook", "-url", second.base + "/webhooks/stripe", "-org", "org_nosecret", "-session", created.SessionID}
		if err := run(context.Background(), args, getenvFrom(nil), &out, &out); err != nil {
			t.Fatalf("send-webhook without -secret next to %s: %v\n%s", defaultDevDir, err, out.String())
		}
	})
	t.Run("DevTokenWithoutDevState", func(t *testing.T) {
		var out syncBuffer
		err := run(context.Background(), []string{"billingd", "dev", "token", "-dir", t.TempDir()}, getenvFrom(nil), &out, &out)
		if err == nil || !strings.Contains(err.Error(), "run `billingd dev`") {
			t.Fatalf("err = %v, want one saying to run billingd dev first", err)
		}
	})
}
