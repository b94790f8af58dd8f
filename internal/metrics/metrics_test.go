package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/billingd/billingd/internal/billing"
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
	m.ObserveDelivery(string(billing.MessagePaymentFailed), metrics.DeliveryDead)
	m.RegisterEventBacklog(func(context.Context) (int, time.Time, error) { return 0, time.Time{}, nil })
	if err := m.RegisterDB(metrics.WritePool, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMetricNamesArePrefixed(t *testing.T) {
	m := metrics.New()
	m.ObserveHTTP("/healthz", http.MethodGet, 200, time.Millisecond)
	m.ObserveWebhook("invoice.paid", "applied")
	m.ObserveStripe("create_customer", time.Millisecond, nil)
	m.RegisterEventBacklog(func(context.Context) (int, time.Time, error) { return 1, time.Now(), nil })
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

// messageTypes are the domain's event types, so a renamed one shows up here.
var messageTypes = []billing.MessageType{billing.MessageEntitlementChanged, billing.MessagePaymentSucceeded, billing.MessagePaymentFailed}

var deliveryResults = []string{metrics.DeliveryDelivered, metrics.DeliveryRetrying, metrics.DeliveryDead, metrics.DeliveryDropped}

func TestObserveDelivery(t *testing.T) {
	t.Run("ZerosFromTheStart", func(t *testing.T) {
		s := scrape(t, metrics.New())
		for _, typ := range messageTypes {
			for _, result := range deliveryResults {
				want(t, s, 0, "billingd_event_deliveries_total", "type", string(typ), "result", result)
			}
		}
	})

	t.Run("OK", func(t *testing.T) {
		m := metrics.New()
		typ := string(billing.MessageEntitlementChanged)
		m.ObserveDelivery(typ, metrics.DeliveryRetrying)
		m.ObserveDelivery(typ, metrics.DeliveryRetrying)
		m.ObserveDelivery(typ, metrics.DeliveryDelivered)
		m.ObserveDelivery(string(billing.MessagePaymentFailed), metrics.DeliveryDead)
		s := scrape(t, m)
		want(t, s, 2, "billingd_event_deliveries_total", "type", typ, "result", "retrying")
		want(t, s, 1, "billingd_event_deliveries_total", "type", typ, "result", "delivered")
		want(t, s, 1, "billingd_event_deliveries_total", "type", "payment.failed", "result", "dead")
		want(t, s, 0, "billingd_event_deliveries_total", "type", "payment.succeeded", "result", "dropped")
		want(t, s, 4, "billingd_event_deliveries_total")
	})
}

// backlog is a fake read of the event backlog that counts its calls and
// checks the deadline it is given.
type backlog struct {
	t      *testing.T
	depth  int
	oldest time.Time
	err    error
	calls  atomic.Int32
}

func (b *backlog) read(ctx context.Context) (int, time.Time, error) {
	b.calls.Add(1)
	if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > 2*time.Second {
		b.t.Errorf("read got deadline %v (set %t), want one within 2s", deadline, ok)
	}
	return b.depth, b.oldest, b.err
}

func TestRegisterEventBacklog(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	newMetrics := func(b *backlog) *metrics.Metrics {
		m := metrics.New()
		metrics.SetNow(m, func() time.Time { return now })
		m.RegisterEventBacklog(b.read)
		return m
	}

	t.Run("OK", func(t *testing.T) {
		b := &backlog{t: t, depth: 3, oldest: now.Add(-90 * time.Second)}
		s := scrape(t, newMetrics(b))
		want(t, s, 3, "billingd_event_queue_depth")
		want(t, s, 90, "billingd_event_oldest_undelivered_seconds")
		want(t, s, 0, "billingd_event_backlog_errors_total")
		if n := b.calls.Load(); n != 1 {
			t.Errorf("read called %d times in one scrape, want 1", n)
		}
	})

	t.Run("ReadAtEachScrape", func(t *testing.T) {
		b := &backlog{t: t, depth: 1, oldest: now.Add(-time.Second)}
		m := newMetrics(b)
		want(t, scrape(t, m), 1, "billingd_event_queue_depth")
		b.depth, b.oldest = 5, now.Add(-time.Hour)
		s := scrape(t, m)
		want(t, s, 5, "billingd_event_queue_depth")
		want(t, s, 3600, "billingd_event_oldest_undelivered_seconds")
		if n := b.calls.Load(); n != 2 {
			t.Errorf("read called %d times in two scrapes, want 2", n)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s := scrape(t, newMetrics(&backlog{t: t}))
		want(t, s, 0, "billingd_event_queue_depth")
		want(t, s, 0, "billingd_event_oldest_undelivered_seconds")
	})

	t.Run("OldestAheadOfTheClock", func(t *testing.T) {
		s := scrape(t, newMetrics(&backlog{t: t, depth: 1, oldest: now.Add(time.Second)}))
		want(t, s, 0, "billingd_event_oldest_undelivered_seconds")
	})

	// A failed read costs the backlog gauges of that scrape, nothing else:
	// /metrics still answers 200 (scrape fails the test otherwise).
	t.Run("ReadFails", func(t *testing.T) {
		b := &backlog{t: t, err: errors.New("database is down")}
		m := newMetrics(b)
		m.ObserveDelivery(string(billing.MessagePaymentSucceeded), metrics.DeliveryDelivered)
		s := scrape(t, m)
		for _, name := range []string{"billingd_event_queue_depth", "billingd_event_oldest_undelivered_seconds"} {
			if s.Has(name) {
				t.Errorf("scrape has %s after a failed read", name)
			}
		}
		want(t, s, 1, "billingd_event_backlog_errors_total")
		want(t, s, 1, "billingd_event_deliveries_total", "type", "payment.succeeded", "result", "delivered")
		if !s.Has("go_goroutines") {
			t.Error("scrape lost the runtime metrics")
		}
		want(t, scrape(t, m), 2, "billingd_event_backlog_errors_total")

		b.err, b.depth, b.oldest = nil, 2, now.Add(-time.Minute)
		s = scrape(t, m)
		want(t, s, 2, "billingd_event_queue_depth")
		want(t, s, 2, "billingd_event_backlog_errors_total")
	})
}
