package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/logtest"

	"github.com/billingd/billingd/api/apitest"
	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// The harness of the end-to-end suite: billingd started through run(), tokens,
// requests, and the response bodies the tests read.

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
	env     map[string]string // the whole environment it runs with
	logs    *syncBuffer       // stdout and stderr
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
		env:     env, logs: &syncBuffer{}, cancel: cancel, done: done,
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

// syncBuffer collects what the code under test logs from its goroutines.
type syncBuffer = logtest.Buffer

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
	Version        *int64 `json:"version"` // nil: absent from the JSON
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
