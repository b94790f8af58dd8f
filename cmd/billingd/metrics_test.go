package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/metrics/metricstest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// scrapeTimeout bounds waiting for a gauge to reach a value.
const scrapeTimeout = 5 * time.Second

// TestEndToEnd_Metrics drives every kind of traffic through a running billingd
// and reads it back from GET /metrics.
func TestEndToEnd_Metrics(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	plain := &http.Client{Timeout: 10 * time.Second} // /metrics is not JSON
	scrape := func() metricstest.Scrape { return metricstest.Get(t, plain, base+"/metrics") }
	org := newOrgID(t)
	token := userToken(t, sec, org)

	// HTTP: a Stripe-backed checkout, a templated route, an unknown path.
	resp := mustSend(t, client, base, request{
		method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
	})
	expect[checkoutCreated](t, resp, http.StatusOK)
	expectError(t, mustSend(t, client, base, request{
		method: http.MethodGet, path: "/api/billing/checkout/cs_notmine", token: token,
	}), http.StatusNotFound, "NOT_FOUND")
	mustSend(t, plain, base, request{method: http.MethodGet, path: "/no/such/path"})

	// A long-poll is open while it waits, and closed once a webhook wakes it.
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	tag := resp.header.Get("ETag")
	polled := make(chan error, 1)
	go func() {
		_, err := send(client, base, request{
			method: http.MethodGet, path: "/api/billing/entitlement?wait=" + strconv.Itoa(longPollWait),
			token: token, header: map[string]string{"If-None-Match": tag},
		})
		polled <- err
	}()
	waitForGauge(t, scrape, "billingd_longpolls_open", 1)

	// Webhooks: applied, duplicate, unknown org, a type billingd ignores, a bad signature.
	sub := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{OrgID: org, Status: billing.StatusActive, LookupKey: "pro_monthly"})
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, sub), false)
	if err := <-polled; err != nil {
		t.Fatalf("long-poll: %v", err)
	}
	waitForGauge(t, scrape, "billingd_longpolls_open", 0)
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, sub), true)
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated},
		stripeevent.SubscriptionSpec{OrgID: newOrgID(t), Status: billing.StatusActive, LookupKey: "pro_monthly"},
	)), false)
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, stripeevent.Event(
		stripeevent.EventSpec{Type: "customer.created"}, map[string]any{"id": stripeevent.NewID("cus"), "object": "customer"},
	)), false)
	expectError(t, postWebhook(t, client, base, "whsec_"+randomHex(24), sub), http.StatusBadRequest, "BAD_SIGNATURE")

	s := scrape()
	wantAtLeast := func(min float64, name string, labels ...string) {
		t.Helper()
		if got, ok := s.Value(name, labels...); !ok || got < min {
			t.Errorf("%s%v = %v (found %t), want at least %v", name, labels, got, ok, min)
		}
	}
	t.Run("HTTP", func(t *testing.T) {
		wantAtLeast(1, "billingd_http_requests_total", "route", "/api/billing/checkout", "method", "POST", "status", "200")
		wantAtLeast(1, "billingd_http_requests_total", "route", "/api/billing/checkout/:sessionId", "method", "GET", "status", "404")
		wantAtLeast(1, "billingd_http_requests_total", "route", "unmatched", "method", "GET", "status", "404")
		wantAtLeast(1, "billingd_http_requests_total", "route", "/webhooks/stripe", "method", "POST", "status", "400")
		wantAtLeast(1, "billingd_http_request_duration_seconds", "route", "/api/billing/entitlement", "method", "GET")
		for _, raw := range []string{"cs_notmine", "/no/such/path"} {
			if _, ok := s.Value("billingd_http_requests_total", "route", raw); ok {
				t.Errorf("a raw path became a route label: %s", raw)
			}
		}
	})
	t.Run("Webhooks", func(t *testing.T) {
		for _, tt := range []struct{ typ, outcome string }{
			{billing.EventSubscriptionCreated, "applied"},
			{billing.EventSubscriptionCreated, "duplicate"},
			{billing.EventSubscriptionUpdated, "unknown_org"},
			{"other", "ignored"},
		} {
			wantAtLeast(1, "billingd_webhook_events_total", "type", tt.typ, "outcome", tt.outcome)
		}
	})
	t.Run("Stripe", func(t *testing.T) {
		for _, op := range []string{"create_customer", "create_checkout_session"} {
			wantAtLeast(1, "billingd_stripe_requests_total", "operation", op, "result", "ok")
			wantAtLeast(1, "billingd_stripe_request_duration_seconds", "operation", op)
		}
	})
	t.Run("DatabasePool", func(t *testing.T) {
		for _, pool := range []string{"billingd", "billingd_read"} {
			wantAtLeast(1, "go_sql_open_connections", "db_name", pool)
			wantAtLeast(0, "go_sql_in_use_connections", "db_name", pool)
		}
	})
	t.Run("Runtime", func(t *testing.T) {
		wantAtLeast(1, "go_goroutines")
	})
}

// waitForGauge scrapes until name is value, or fails after scrapeTimeout.
func waitForGauge(t *testing.T, scrape func() metricstest.Scrape, name string, value float64) {
	t.Helper()
	deadline := time.Now().Add(scrapeTimeout)
	for {
		got, _ := scrape().Value(name)
		if got == value {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %v, want %v", name, got, scrapeTimeout, value)
		}
		time.Sleep(readyPoll)
	}
}

// TestEndToEnd_MetricsTextFormat: the scrape is Prometheus text, names prefixed.
func TestEndToEnd_MetricsTextFormat(t *testing.T) {
	base, _ := startBillingd(t, nil)
	resp := mustSend(t, &http.Client{Timeout: 10 * time.Second}, base, request{method: http.MethodGet, path: "/metrics"})
	if resp.status != http.StatusOK || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %q, want 200 text/plain", resp.status, resp.header.Get("Content-Type"))
	}
	if !strings.Contains(string(resp.body), "# TYPE billingd_http_requests_total counter") {
		t.Errorf("scrape lacks billingd_http_requests_total:\n%s", resp.body)
	}
}
