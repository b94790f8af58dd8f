package metrics

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "billingd"

// Label values that stand for anything outside a bounded set, so that no
// client-controlled text becomes a time series.
const (
	// UnmatchedRoute is the route label of a request no route matched.
	UnmatchedRoute = "unmatched"
	otherMethod    = "OTHER"
)

// Results of a Stripe request, the result label of billingd_stripe_requests_total.
const (
	resultOK       = "ok"
	resultError    = "error"
	resultCanceled = "canceled" // the caller gave up, not Stripe
)

// Histogram buckets in seconds. HTTP reaches 30 s because a long-poll may be
// held for 25 s; Stripe reaches stripe-go's 80 s client timeout.
var (
	httpBuckets   = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	stripeBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 80}
)

// Metrics is billingd's registry and its metrics.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	// httpSeries caches each (route, method, status)'s children of the two:
	// a lookup by labels hashes them and takes a lock, on every request.
	httpSeries     sync.Map // httpKey → httpSeries
	webhookEvents  *prometheus.CounterVec
	stripeRequests *prometheus.CounterVec
	stripeDuration *prometheus.HistogramVec
	longPolls      prometheus.Gauge
	reconcileRuns  *prometheus.CounterVec
	reconcileFixes *prometheus.CounterVec
	eventsPruned   prometheus.Counter

	eventDeliveries *prometheus.CounterVec
	// now is the clock of values computed at scrape time (the age of the
	// oldest undelivered event); tests set it.
	now func() time.Time
}

// New returns Metrics on a fresh registry that also carries the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		now: time.Now,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help: "Time to serve an HTTP request, long-polls included, by route template and method.", Buckets: httpBuckets,
		}, []string{"route", "method"}),
		webhookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "webhook_events_total",
			Help: "Verified Stripe webhook events, by event type and outcome (applied, duplicate, stale, unknown_org, ignored, failed).",
		}, []string{"type", "outcome"}),
		stripeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "stripe_requests_total",
			Help: "Stripe API requests, by operation and result (ok, error, canceled).",
		}, []string{"operation", "result"}),
		stripeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "stripe_request_duration_seconds",
			Help: "Time of a Stripe API request, retries included, by operation.", Buckets: stripeBuckets,
		}, []string{"operation"}),
		longPolls: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "longpolls_open",
			Help: "Entitlement long-polls being held open.",
		}),
		reconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reconcile_runs_total",
			Help: "Reconcile runs with Stripe, by result (ok, error).",
		}, []string{"result"}),
		reconcileFixes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reconcile_fixes_total",
			Help: "States reconcile healed, by kind (undelivered_event, subscription_state).",
		}, []string{"kind"}),
		eventsPruned: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "stripe_events_pruned_total",
			Help: "Stripe event receipts deleted after EVENT_RETENTION.",
		}),
		eventDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "event_deliveries_total",
			Help: "Delivery attempts of billingd's own events to one endpoint, by event type and result (delivered, retrying, dead, dropped).",
		}, []string{"type", "result"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.webhookEvents, m.stripeRequests, m.stripeDuration, m.longPolls,
		m.reconcileRuns, m.reconcileFixes, m.eventsPruned, m.eventDeliveries,
	)
	m.initDeliveries()
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

// Handler serves the registry in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return m.handler
}

// Pool names, the db_name label of go_sql_*: the pool writes and
// transactions use keeps the name it had before reads got their own.
const (
	WritePool = namespace
	ReadPool  = namespace + "_read"
)

// RegisterDB adds the connection pool stats of db (go_sql_*{db_name=pool}).
func (m *Metrics) RegisterDB(pool string, db *sql.DB) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(collectors.NewDBStatsCollector(db, pool))
}

// ObserveHTTP records one served request. route must be a route template (or
// UnmatchedRoute), never a raw path.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = UnmatchedRoute
	}
	key := httpKey{route: route, method: boundMethod(method), status: status}
	series, ok := m.httpSeries.Load(key)
	if !ok {
		series, _ = m.httpSeries.LoadOrStore(key, httpSeries{
			requests: m.httpRequests.WithLabelValues(key.route, key.method, strconv.Itoa(status)),
			duration: m.httpDuration.WithLabelValues(key.route, key.method),
		})
	}
	s := series.(httpSeries)
	s.requests.Inc()
	s.duration.Observe(d.Seconds())
}

// httpKey names the series of one kind of request. Routes, methods and
// statuses are bounded sets, and so is the cache.
type httpKey struct {
	route, method string
	status        int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// boundMethod keeps the standard methods and folds any other into one label.
func boundMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return otherMethod
}

// ObserveWebhook records one verified webhook event. eventType must come from
// a bounded set: the caller folds types it does not handle into one value.
func (m *Metrics) ObserveWebhook(eventType, outcome string) {
	if m == nil {
		return
	}
	m.webhookEvents.WithLabelValues(eventType, outcome).Inc()
}

// ObserveStripe records one Stripe API request and its error, or nil; it has
// the signature of stripe.Options.Observe.
func (m *Metrics) ObserveStripe(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := resultOK
	switch {
	case errors.Is(err, context.Canceled):
		result = resultCanceled
	case err != nil:
		result = resultError
	}
	m.stripeRequests.WithLabelValues(op, result).Inc()
	m.stripeDuration.WithLabelValues(op).Observe(d.Seconds())
}

// LongPollStarted counts a long-poll as open until the returned func is called.
func (m *Metrics) LongPollStarted() (done func()) {
	if m == nil {
		return func() {}
	}
	m.longPolls.Inc()
	return m.longPolls.Dec
}

// ObserveReconcile records one reconcile run: its fixes by kind, the event
// receipts it pruned, and its error, or nil.
func (m *Metrics) ObserveReconcile(fixes map[string]int, pruned int64, err error) {
	if m == nil {
		return
	}
	result := resultOK
	if err != nil {
		result = resultError
	}
	m.reconcileRuns.WithLabelValues(result).Inc()
	for kind, n := range fixes {
		m.reconcileFixes.WithLabelValues(kind).Add(float64(n))
	}
	m.eventsPruned.Add(float64(pruned))
}
