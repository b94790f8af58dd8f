package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// eventTypes are the types of billingd's own events (billing.MessageType;
// this package imports nothing of billingd), the type label of
// billingd_event_deliveries_total.
var eventTypes = []string{"entitlement.changed", "payment.succeeded", "payment.failed"}

// Results of one delivery attempt of an event to one endpoint, the result
// label of billingd_event_deliveries_total.
const (
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryRetrying  = "retrying"  // the attempt failed; the event will be sent again
	DeliveryDead      = "dead"      // the last attempt failed; the event is given up
	DeliveryDropped   = "dropped"   // the event was discarded without being sent
)

var deliveryResults = []string{DeliveryDelivered, DeliveryRetrying, DeliveryDead, DeliveryDropped}

// initDeliveries exports every type × result from the start, so dashboards
// and alerts (on dead, say) see zeros rather than no data.
func (m *Metrics) initDeliveries() {
	for _, typ := range eventTypes {
		for _, result := range deliveryResults {
			m.eventDeliveries.WithLabelValues(typ, result)
		}
	}
}

// ObserveDelivery records one delivery attempt of an event of type typ (a
// billing.MessageType) with its result, one of the Delivery… constants.
func (m *Metrics) ObserveDelivery(typ, result string) {
	if m == nil {
		return
	}
	m.eventDeliveries.WithLabelValues(typ, result).Inc()
}

// backlogReadTimeout bounds one read of the event backlog: /metrics must
// answer well within Prometheus's scrape timeout (10 s by default) even when
// the database does not.
const backlogReadTimeout = 2 * time.Second

// RegisterEventBacklog exports, at each scrape, the backlog of billingd's own
// events as read returns it: depth, the events still to deliver, as
// billingd_event_queue_depth, and oldest, when the oldest of them was
// enqueued, as billingd_event_oldest_undelivered_seconds (its age; 0 when
// depth is 0 or oldest is zero).
//
// read is called once per scrape with a context that ends after 2 s, which it
// must honour. When it fails, that scrape exports neither gauge and
// billingd_event_backlog_errors_total counts the failure: /metrics still
// answers 200 with everything else, and a missing gauge plus a rising counter
// is what to alert on. Call it at most once per Metrics; a second call panics.
func (m *Metrics) RegisterEventBacklog(read func(ctx context.Context) (depth int, oldest time.Time, err error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(newBacklogCollector(read, m.now))
}

// backlogCollector is a prometheus.Collector that reads the backlog when
// scraped, so the gauges are never older than the scrape.
type backlogCollector struct {
	read   func(context.Context) (int, time.Time, error)
	now    func() time.Time
	depth  *prometheus.Desc
	oldest *prometheus.Desc
	errors prometheus.Counter
}

func newBacklogCollector(read func(context.Context) (int, time.Time, error), now func() time.Time) *backlogCollector {
	return &backlogCollector{
		read: read,
		now:  now,
		depth: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "event_queue_depth"),
			"billingd's own events still to deliver.", nil, nil),
		oldest: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "event_oldest_undelivered_seconds"),
			"Age of the oldest of billingd's own events still to deliver; 0 when there is none.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "event_backlog_errors_total",
			Help: "Scrapes that could not read the event backlog; they export neither billingd_event_queue_depth nor billingd_event_oldest_undelivered_seconds.",
		}),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	c.errors.Describe(ch)
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogReadTimeout)
	defer cancel()
	depth, oldest, err := c.read(ctx)
	if err != nil {
		// Counted before it is collected, so this very scrape shows the failure.
		c.errors.Inc()
		c.errors.Collect(ch)
		return
	}
	age := 0.0
	if depth > 0 && !oldest.IsZero() {
		age = max(c.now().Sub(oldest).Seconds(), 0) // 0, not negative, when the database's clock is ahead
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	c.errors.Collect(ch)
}
