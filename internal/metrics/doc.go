// Package metrics owns billingd's Prometheus registry and every metric on it:
// HTTP requests, Stripe webhook events, Stripe API requests, open long-polls,
// reconcile runs, deliveries and backlog of billingd's own events, the
// database pool, and the Go runtime and process.
//
// Its methods take plain values (route templates, event types, operations), so
// the packages that observe things need not import Prometheus; every method is
// a no-op on a nil *Metrics, so tests and tools may run without metrics. It uses
// its own registry, never Prometheus's global default. It imports nothing of
// billingd.
package metrics
