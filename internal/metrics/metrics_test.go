package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/metrics/metricstest"
)

// scrape serves m.Handler and parses one scrape of it.
func scrape(t *testing.T, m *metrics.Metrics) metricstest.Scrape {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return metricstest.Get(t, srv.Client(), srv.URL)
}

// want fails unless the scrape's name with labels sums to value.
func want(t *testing.T, s metricstest.Scrape, value float64, name string, labels ...string) {
	t.Helper()
	got, ok := s.Value(name, labels...)
	if !ok || got != value {
		t.Errorf("%s%v = %v (found %t), want %v", name, labels, got, ok, value)
	}
}

func TestObserveHTTP(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		m := metrics.New()
		m.ObserveHTTP("/api/billing/checkout/:sessionId", http.MethodGet, 404, 10*time.Millisecond)
		m.ObserveHTTP("/api/billing/checkout/:sessionId", http.MethodGet, 200, 20*time.Millisecond)
		m.ObserveHTTP("/api/billing/checkout/:sessionId", http.MethodGet, 200, 30*time.Millisecond)
		s := scrape(t, m)
		want(t, s, 2, "billingd_http_requests_total", "route", "/api/billing/checkout/:sessionId", "method", "GET", "status", "200")
		want(t, s, 1, "billingd_http_requests_total", "route", "/api/billing/checkout/:sessionId", "method", "GET", "status", "404")
		want(t, s, 3, "billingd_http_request_duration_seconds", "route", "/api/billing/checkout/:sessionId", "method", "GET")
	})

	t.Run("BoundedLabels", func(t *testing.T) {
		m := metrics.New()
		m.ObserveHTTP("", "PROPFIND", 405, time.Millisecond)
		s := scrape(t, m)
		want(t, s, 1, "billingd_http_requests_total", "route", metrics.UnmatchedRoute, "method", "OTHER", "status", "405")
	})
}

func TestObserveWebhook(t *testing.T) {
	m := metrics.New()
	m.ObserveWebhook("customer.subscription.created", "applied")
	m.ObserveWebhook("customer.subscription.created", "duplicate")
	m.ObserveWebhook("customer.subscription.created", "duplicate")
	s := scrape(t, m)
	want(t, s, 1, "billingd_webhook_events_total", "type", "customer.subscription.created", "outcome", "applied")
	want(t, s, 2, "billingd_webhook_events_total", "type", "customer.subscription.created", "outcome", "duplicate")
}

func TestObserveStripe(t *testing.T) {
	m := metrics.New()
	m.ObserveStripe("create_customer", 100*time.Millisecond, nil)
	m.ObserveStripe("create_customer", time.Second, errors.New("stripe: 500"))
	m.ObserveStripe("create_customer", time.Second, context.Canceled)
	s := scrape(t, m)
	for _, result := range []string{"ok", "error", "canceled"} {
		want(t, s, 1, "billingd_stripe_requests_total", "operation", "create_customer", "result", result)
	}
	want(t, s, 3, "billingd_stripe_request_duration_seconds", "operation", "create_customer")
}

func TestLongPollStarted(t *testing.T) {
	m := metrics.New()
	done1, done2 := m.LongPollStarted(), m.LongPollStarted()
	want(t, scrape(t, m), 2, "billingd_longpolls_open")
	done1()
	done2()
	want(t, scrape(t, m), 0, "billingd_longpolls_open")
}

func TestRegisterDB(t *testing.T) {
	m := metrics.New()
	if err := m.RegisterDB(metrics.WritePool, openDB(t)); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDB(metrics.ReadPool, openDB(t)); err != nil {
		t.Fatal(err)
	}
	s := scrape(t, m)
	for _, pool := range []string{"billingd", "billingd_read"} {
		for _, name := range []string{"go_sql_open_connections", "go_sql_in_use_connections", "go_sql_wait_count_total"} {
			if _, ok := s.Value(name, "db_name", pool); !ok {
				t.Errorf("no %s{db_name=%s}", name, pool)
			}
		}
	}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(":memory:"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return sqlDB
}

func TestHandler_RuntimeAndProcess(t *testing.T) {
	s := scrape(t, metrics.New())
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes"} {
		if !s.Has(name) {
			t.Errorf("scrape has no %s", name)
		}
	}
	// The process collector reads /proc on Linux; elsewhere it may export nothing.
	if runtime.GOOS == "linux" && !s.Has("process_cpu_seconds_total") {
		t.Error("scrape has no process_cpu_seconds_total")
	}
}

// A nil *Metrics is metrics turned off: every method is a no-op.
func TestNilMetrics(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveHTTP("/healthz", http.MethodGet, 200, time.Millisecond)
	m.ObserveWebhook("invoice.paid", "applied")
	m.ObserveStripe("create_customer", time.Millisecond, nil)
	m.LongPollStarted()()
	m.ObserveReconcile(map[string]int{"subscription_state": 1}, 1, nil)
	if err := m.RegisterDB(metrics.WritePool, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMetricNamesArePrefixed(t *testing.T) {
	m := metrics.New()
	m.ObserveHTTP("/healthz", http.MethodGet, 200, time.Millisecond)
	m.ObserveWebhook("invoice.paid", "applied")
	m.ObserveStripe("create_customer", time.Millisecond, nil)
	for name := range scrape(t, m) {
		if !strings.HasPrefix(name, "billingd_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s is neither billingd's nor the runtime's", name)
		}
	}
}

func TestObserveReconcile(t *testing.T) {
	m := metrics.New()
	m.ObserveReconcile(map[string]int{"undelivered_event": 2, "subscription_state": 1}, 5, nil)
	m.ObserveReconcile(map[string]int{"subscription_state": 1}, 0, errors.New("stripe down"))
	s := scrape(t, m)
	want(t, s, 1, "billingd_reconcile_runs_total", "result", "ok")
	want(t, s, 1, "billingd_reconcile_runs_total", "result", "error")
	want(t, s, 2, "billingd_reconcile_fixes_total", "kind", "undelivered_event")
	want(t, s, 2, "billingd_reconcile_fixes_total", "kind", "subscription_state")
	want(t, s, 5, "billingd_stripe_events_pruned_total")
}
