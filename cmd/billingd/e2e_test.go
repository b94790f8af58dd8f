package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/api/apitest"
	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// The end-to-end suite: it starts the whole program through run(), the way
// main does, against stripe-mock and a real database, and talks to it over
// HTTP only. Every response is validated against openapi.yaml.

func TestMain(m *testing.M) {
	if os.Getenv(childProcessEnv) == "1" {
		// This test binary was started by startProcess to be billingd itself.
		main()
		os.Exit(0)
	}
	stripetest.Main(m)
}

// Bounds of the suite.
const (
	readyTimeout    = 10 * time.Second
	readyPoll       = 20 * time.Millisecond
	stopTimeout     = 15 * time.Second
	refuseTimeout   = 5 * time.Second
	longPollWait    = 20 // seconds, as a client asks for it
	maxLongPollLag  = 500 * time.Millisecond
	longPollSettle  = 200 * time.Millisecond
	longPollTimeout = time.Second
)

// secrets are the generated secrets a started billingd was configured with.
type secrets struct {
	WebhookSecret string // STRIPE_WEBHOOK_SECRET
	JWTSecret     string // AUTH_JWT_SECRET
}

// baseEnv is a complete production-mode environment for a billingd on port,
// with a SQLite file database and fresh secrets.
func baseEnv(t *testing.T, port int) map[string]string {
	t.Helper()
	return map[string]string{
		"PORT":                  strconv.Itoa(port),
		"DATABASE_URL":          "sqlite:" + filepath.Join(t.TempDir(), "billingd.db"),
		"STRIPE_SECRET_KEY":     "sk_test_123", // stripe-mock wants a plain-looking key
		"STRIPE_WEBHOOK_SECRET": "whsec_" + randomHex(24),
		"AUTH_JWT_SECRET":       randomHex(32),
		"APP_URL":               "https://app.example.com",
		"LOG_LEVEL":             "warn",
		"SHUTDOWN_TIMEOUT":      "5s",
		"SHUTDOWN_DELAY":        "0s",
	}
}

// startBillingd runs billingd through run() on a free loopback port with
// baseEnv plus stripe-mock, overridden by extraEnv (a "" value unsets a
// variable), and returns once GET /healthz answers 200. The program is stopped
// when the test ends; it must then return nil.
func startBillingd(t *testing.T, extraEnv map[string]string) (string, secrets) {
	t.Helper()
	b := launch(t, extraEnv)
	return b.base, b.secrets
}

// instance is billingd running in this process through run().
type instance struct {
	base string
	secrets
	logs    *syncBuffer // stdout and stderr
	cancel  context.CancelFunc
	done    <-chan error
	stopped sync.Once
}

// launch is startBillingd that hands back the instance, for tests that read
// its logs or stop it early.
func launch(t *testing.T, extraEnv map[string]string) *instance {
	t.Helper()
	port := freePort(t)
	env := baseEnv(t, port)
	env["STRIPE_API_BASE"] = stripetest.StartMock(t)
	for k, v := range extraEnv {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b := &instance{
		base:    "http://127.0.0.1:" + strconv.Itoa(port),
		secrets: secrets{WebhookSecret: env["STRIPE_WEBHOOK_SECRET"], JWTSecret: env["AUTH_JWT_SECRET"]},
		logs:    &syncBuffer{}, cancel: cancel, done: done,
	}
	go func() { done <- run(ctx, []string{"billingd"}, getenvFrom(env), b.logs, b.logs) }()
	t.Cleanup(func() { b.stop(t) })
	if err := waitForReady(ctx, newClient(t), b.base+"/healthz", done); err != nil {
		t.Fatalf("billingd did not become healthy: %v; logs:\n%s", err, b.logs)
	}
	return b
}

// stop ends the program and checks that run returns nil in time.
func (b *instance) stop(t *testing.T) {
	b.stopped.Do(func() {
		b.cancel()
		select {
		case err := <-b.done:
			if err != nil {
				t.Errorf("run returned %v after the context ended; logs:\n%s", err, b.logs)
			}
		case <-time.After(stopTimeout):
			t.Errorf("run did not return within %v of the context ending; logs:\n%s", stopTimeout, b.logs)
		}
	})
}

// waitForReady polls endpoint until it answers 200 (Mat Ryer's waitForReady),
// giving up after readyTimeout or as soon as run returns.
func waitForReady(ctx context.Context, client *http.Client, endpoint string, done <-chan error) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("run returned early: %v", err)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(readyPoll)
	}
	return fmt.Errorf("no 200 from %s within %v", endpoint, readyTimeout)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// syncBuffer is a bytes.Buffer that the server's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newClient returns a client whose every response is checked against openapi.yaml.
func newClient(t *testing.T) *http.Client {
	return apitest.NewValidatingClient(t, nil)
}

// Tokens.

func userToken(t *testing.T, s secrets, orgID string) string {
	t.Helper()
	return signToken(t, s, map[string]any{
		"sub": "user_" + orgID, "org_id": orgID, "email": orgID + "@example.com",
	})
}

func signToken(t *testing.T, s secrets, claims map[string]any) string {
	t.Helper()
	claims["iat"] = time.Now().Unix()
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	token, err := auth.SignHS256([]byte(s.JWTSecret), claims)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return token
}

func newOrgID(t *testing.T) string { return "org_" + randomHex(8) }

// Requests. send is safe to call from any goroutine; the others fail the test.

type request struct {
	method, path, token string
	body                []byte
	header              map[string]string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func send(client *http.Client, base string, r request) (response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		return response{}, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func mustSend(t *testing.T, client *http.Client, base string, r request) response {
	t.Helper()
	resp, err := send(client, base, r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return resp
}

// Response bodies, as far as these tests read them.

type envelope[T any] struct {
	Success bool `json:"success"`
	Data    T    `json:"data"`
	Error   struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	} `json:"error"`
}

type checkoutCreated struct {
	SessionID string `json:"sessionId"`
	URL       string `json:"url"`
}

type entitlement struct {
	OrganizationID string `json:"organizationId"`
	Plan           string `json:"plan"`
	Status         string `json:"status"`
	Active         bool   `json:"active"`
	Checkout       *struct {
		SessionID string `json:"sessionId"`
		Status    string `json:"status"`
		Ready     bool   `json:"ready"`
	} `json:"checkout"`
}

type checkoutSession struct {
	SessionID        string  `json:"sessionId"`
	Status           string  `json:"status"`
	Plan             string  `json:"plan"`
	URL              *string `json:"url"`
	EntitlementReady bool    `json:"entitlementReady"`
}

type webhookReceipt struct {
	EventID   string `json:"eventId"`
	Duplicate bool   `json:"duplicate"`
	Outcome   string `json:"outcome"`
}

// expect checks the status and decodes the envelope.
func expect[T any](t *testing.T, resp response, status int) envelope[T] {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status %d, want %d; body: %s", resp.status, status, resp.body)
	}
	var env envelope[T]
	if err := json.Unmarshal(resp.body, &env); err != nil {
		t.Fatalf("decode body: %v; body: %s", err, resp.body)
	}
	return env
}

// expectError checks an error envelope's status and code.
func expectError(t *testing.T, resp response, status int, code string) {
	t.Helper()
	env := expect[struct{}](t, resp, status)
	if env.Success || env.Error.Code != code {
		t.Fatalf("error code %q (success %t), want %q; body: %s", env.Error.Code, env.Success, code, resp.body)
	}
}

// postWebhook signs payload with secret now, as Stripe does, and posts it.
func postWebhook(t *testing.T, client *http.Client, base, secret string, payload []byte) response {
	t.Helper()
	return mustSend(t, client, base, request{
		method: http.MethodPost, path: "/webhooks/stripe", body: payload,
		header: map[string]string{"Stripe-Signature": stripeevent.Sign(payload, secret, time.Now())},
	})
}

func expectReceipt(t *testing.T, resp response, duplicate bool) {
	t.Helper()
	got := expect[webhookReceipt](t, resp, http.StatusOK).Data
	if got.Duplicate != duplicate {
		t.Fatalf("duplicate = %t, want %t; body: %s", got.Duplicate, duplicate, resp.body)
	}
}

func TestEndToEnd_CheckoutWebhookEntitlement(t *testing.T) {
	onEachDatabase(t, testCheckoutWebhookEntitlement)
}

// onEachDatabase runs test against billingd on SQLite, then on PostgreSQL;
// extraEnv selects the database.
func onEachDatabase(t *testing.T, test func(t *testing.T, extraEnv map[string]string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		test(t, map[string]string{"DATABASE_URL": storetest.PostgresURL(t)})
	})
}

// startCheckout starts a pro checkout for the token's org and returns its session id.
func startCheckout(t *testing.T, client *http.Client, base, token string) string {
	t.Helper()
	resp := mustSend(t, client, base, request{
		method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
	})
	return expect[checkoutCreated](t, resp, http.StatusOK).Data.SessionID
}

// testCheckoutWebhookEntitlement walks the flow of SPEC §1: checkout, a success
// page long-polling the entitlement, Stripe's webhooks provisioning it.
func testCheckoutWebhookEntitlement(t *testing.T, extraEnv map[string]string) {
	base, sec := startBillingd(t, extraEnv)
	client := newClient(t)
	org := newOrgID(t)
	token := userToken(t, sec, org)

	// 1. Checkout.
	resp := mustSend(t, client, base, request{
		method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
	})
	created := expect[checkoutCreated](t, resp, http.StatusOK).Data
	if !strings.HasPrefix(created.SessionID, "cs_") || created.URL == "" {
		t.Fatalf("checkout = %+v, want a cs_ session id and a url", created)
	}
	if resp.header.Get("X-Request-Id") == "" {
		t.Fatal("checkout response has no X-Request-Id")
	}
	sessionID := created.SessionID

	// 2. Free before any webhook; then a success page starts long-polling.
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	ent := expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Plan != "free" || ent.Status != "none" || ent.Active || ent.OrganizationID != org {
		t.Fatalf("entitlement before any webhook = %+v, want %s free/none", ent, org)
	}
	freeTag := resp.header.Get("ETag")
	if freeTag == "" {
		t.Fatal("entitlement response has no ETag")
	}
	type polled struct {
		resp response
		err  error
		at   time.Time
	}
	pollDone := make(chan polled, 1)
	go func() {
		r, err := send(client, base, request{
			method: http.MethodGet, path: "/api/billing/entitlement?wait=" + strconv.Itoa(longPollWait),
			token: token, header: map[string]string{"If-None-Match": freeTag},
		})
		pollDone <- polled{r, err, time.Now()}
	}()

	// 3. Stripe creates the subscription while the poll waits.
	time.Sleep(longPollSettle)
	subID, customerID := stripeevent.NewID("sub"), stripeevent.NewID("cus")
	subEvent := stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{
			ID: subID, CustomerID: customerID, OrgID: org, Status: billing.StatusTrialing,
			LookupKey: "pro_monthly", TrialEnd: time.Now().AddDate(0, 0, 14),
		},
	)
	resp = postWebhook(t, client, base, sec.WebhookSecret, subEvent)
	webhookAt := time.Now()
	expectReceipt(t, resp, false)

	// 4. The poll wakes at once with the new state.
	var p polled
	select {
	case p = <-pollDone:
	case <-time.After(longPollTimeout):
		t.Fatalf("long-poll still waiting %v after the webhook's 200", longPollTimeout)
	}
	if p.err != nil {
		t.Fatalf("long-poll: %v", p.err)
	}
	lag := p.at.Sub(webhookAt)
	t.Logf("long-poll returned %v after the webhook's 200 (negative: before it)", lag)
	if lag > maxLongPollLag {
		t.Errorf("long-poll lag %v, want < %v", lag, maxLongPollLag)
	}
	ent = expect[entitlement](t, p.resp, http.StatusOK).Data
	if ent.Plan != "pro" || ent.Status != "trialing" || !ent.Active {
		t.Fatalf("entitlement after the subscription webhook = %+v, want pro/trialing/active", ent)
	}
	if tag := p.resp.header.Get("ETag"); tag == "" || tag == freeTag {
		t.Fatalf("ETag after the change = %q, want a new one (was %q)", tag, freeTag)
	}

	// 5. The checkout completes; the success page sees it ready.
	resp = postWebhook(t, client, base, sec.WebhookSecret, stripeevent.CheckoutSessionEvent(
		stripeevent.EventSpec{Type: billing.EventCheckoutCompleted},
		stripeevent.CheckoutSessionSpec{ID: sessionID, OrgID: org, CustomerID: customerID, SubscriptionID: subID},
	))
	expectReceipt(t, resp, false)

	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?session_id=" + sessionID, token: token})
	ent = expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Checkout == nil || ent.Checkout.SessionID != sessionID || ent.Checkout.Status != "complete" || !ent.Checkout.Ready {
		t.Fatalf("checkout readiness = %+v, want %s complete and ready", ent.Checkout, sessionID)
	}
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/checkout/" + sessionID, token: token})
	cs := expect[checkoutSession](t, resp, http.StatusOK).Data
	if !cs.EntitlementReady || cs.Plan != "pro" || cs.Status != "complete" || cs.URL != nil {
		t.Fatalf("checkout session = %+v (url %v), want complete, pro, entitlementReady, no url", cs, cs.URL)
	}

	// 6. Stripe redelivers the subscription event: no second effect.
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, subEvent), true)

	// 7. Conditional GET with the current tag.
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	expect[entitlement](t, resp, http.StatusOK)
	tag := resp.header.Get("ETag")
	resp = mustSend(t, client, base, request{
		method: http.MethodGet, path: "/api/billing/entitlement", token: token,
		header: map[string]string{"If-None-Match": tag},
	})
	if resp.status != http.StatusNotModified || resp.header.Get("ETag") != tag || len(resp.body) != 0 {
		t.Fatalf("conditional GET = %d ETag %q body %q, want 304 ETag %q and no body",
			resp.status, resp.header.Get("ETag"), resp.body, tag)
	}

	// 8. A subscribed org cannot start another checkout.
	resp = mustSend(t, client, base, request{
		method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
	})
	expectError(t, resp, http.StatusConflict, "ALREADY_SUBSCRIBED")
}

func TestEndToEnd_ServiceToken(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	service := signToken(t, sec, map[string]any{"sub": "svc_reports", "scope": "profile " + auth.ScopeBillingRead})

	t.Run("OK", func(t *testing.T) {
		other := newOrgID(t)
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?org_id=" + other, token: service})
		ent := expect[entitlement](t, resp, http.StatusOK).Data
		if ent.OrganizationID != other || ent.Plan != "free" {
			t.Fatalf("entitlement = %+v, want %s on free", ent, other)
		}
	})
	t.Run("ErrNoOrg", func(t *testing.T) {
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: service})
		expectError(t, resp, http.StatusForbidden, "FORBIDDEN")
	})
	t.Run("ErrUserReadsAnotherOrg", func(t *testing.T) {
		user := userToken(t, sec, newOrgID(t))
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?org_id=" + newOrgID(t), token: user})
		expectError(t, resp, http.StatusForbidden, "FORBIDDEN")
	})
}

func TestEndToEnd_BadSignatureWritesNothing(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	payload := stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{OrgID: newOrgID(t), Status: billing.StatusActive, LookupKey: "pro_monthly"},
	)

	resp := postWebhook(t, client, base, "whsec_"+randomHex(24), payload)
	expectError(t, resp, http.StatusBadRequest, "BAD_SIGNATURE")

	// Had the forged delivery recorded the event id, this would be a duplicate.
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, payload), false)
}

func TestRun_RefusesToStartWithoutStripeKey(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string // overrides of baseEnv; "" unsets
		names string            // the variable the error must name
	}{
		{"NoStripeKey", map[string]string{"STRIPE_SECRET_KEY": ""}, "STRIPE_SECRET_KEY"},
		{"NoWebhookSecret", map[string]string{"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET"},
		{"MalformedPort", map[string]string{"PORT": "80a"}, "PORT"},
		{"NoAuth", map[string]string{"AUTH_JWT_SECRET": "", "AUTH_JWKS_URL": ""}, "AUTH_JWT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			env := baseEnv(t, port)
			env["STRIPE_SECRET_KEY"] = "sk_test_" + randomHex(12) // distinctive, to catch a leak
			env["STRIPE_API_BASE"] = "http://127.0.0.1:1"         // nothing real, even in a fallback
			for k, v := range tt.env {
				env[k] = v
			}
			logs := &syncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"billingd"}, getenvFrom(env), logs, logs) }()

			var err error
			select {
			case err = <-done:
			case <-time.After(refuseTimeout):
				cancel()
				<-done
				t.Fatalf("run still running after %v; it must refuse to start. logs:\n%s", refuseTimeout, logs)
			}
			if err == nil {
				t.Fatal("run returned nil, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.names) {
				t.Errorf("error %q does not name %s", msg, tt.names)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			for _, k := range []string{"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "AUTH_JWT_SECRET"} {
				if v := env[k]; v != "" && strings.Contains(msg+logs.String(), v) {
					t.Errorf("error or logs leak the value of %s: %q", k, msg)
				}
			}
			if out := logs.String(); strings.Contains(out, "DEV MODE") || strings.Contains(out, "listening") {
				t.Errorf("run served before refusing:\n%s", out)
			}
			if port := env["PORT"]; port != "80a" {
				ln, err := net.Listen("tcp", net.JoinHostPort("", port))
				if err != nil {
					t.Errorf("port %s is taken after run refused to start: %v", port, err)
				} else {
					ln.Close()
				}
			}
		})
	}
}

func TestRun_OpenAPISpecIsServed(t *testing.T) {
	base, _ := startBillingd(t, nil)
	resp := mustSend(t, newClient(t), base, request{method: http.MethodGet, path: "/openapi.yaml"})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.status)
	}
	if mt, _, err := mime.ParseMediaType(resp.header.Get("Content-Type")); err != nil || mt != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", resp.header.Get("Content-Type"))
	}
	for _, want := range []string{"openapi: 3", "/api/billing/checkout"} {
		if !bytes.Contains(resp.body, []byte(want)) {
			t.Errorf("spec lacks %q", want)
		}
	}
}

// TestSendWebhook runs the dev-mode flow printed to newcomers: checkout, then
// `billingd send-webhook`, then the entitlement is pro and the checkout ready.
func TestSendWebhook(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	org := newOrgID(t)
	token := userToken(t, sec, org)
	sessionID := startCheckout(t, client, base, token)

	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []string{"billingd", "send-webhook", "-url", base + "/webhooks/stripe",
		"-secret", sec.WebhookSecret, "-org", org, "-session", sessionID}
	if err := run(ctx, args, getenvFrom(nil), &out, &out); err != nil {
		t.Fatalf("send-webhook: %v; output:\n%s", err, out.String())
	}

	resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?session_id=" + sessionID, token: token})
	ent := expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Plan != "pro" || !ent.Active || ent.Checkout == nil || !ent.Checkout.Ready {
		t.Fatalf("entitlement after send-webhook = %+v (checkout %+v), want pro and ready; send-webhook said:\n%s",
			ent, ent.Checkout, out.String())
	}
}

// TestRun_ShutdownReleasesLongPolls: on shutdown a held long-poll answers at
// once with the current state, and run returns well within the grace period.
func TestRun_ShutdownReleasesLongPolls(t *testing.T) {
	port := freePort(t)
	env := baseEnv(t, port)
	env["STRIPE_API_BASE"] = stripetest.StartMock(t)
	env["SHUTDOWN_TIMEOUT"] = "10s"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"billingd"}, getenvFrom(env), logs, logs) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := newClient(t)
	if err := waitForReady(ctx, client, base+"/healthz", done); err != nil {
		t.Fatalf("not healthy: %v\n%s", err, logs)
	}
	s := secrets{WebhookSecret: env["STRIPE_WEBHOOK_SECRET"], JWTSecret: env["AUTH_JWT_SECRET"]}
	polled := make(chan response, 1)
	go func() {
		resp, err := send(client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?wait=20", token: userToken(t, s, newOrgID(t))})
		if err != nil {
			t.Errorf("long-poll: %v", err)
		}
		polled <- resp
	}()
	time.Sleep(longPollSettle)
	stopped := time.Now()
	cancel()
	select {
	case resp := <-polled:
		if resp.status != http.StatusOK {
			t.Fatalf("long-poll answered %d on shutdown, want 200 with the current state", resp.status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll still held 5 s after shutdown began")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v; logs:\n%s", err, logs)
		}
		t.Logf("run returned %v after shutdown began", time.Since(stopped))
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5 s of shutdown")
	}
}
