package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/outbound"
)

// Events configures the delivery of billingd's own messages (SPEC §9) to
// webhook endpoints. The zero value turns them off: nothing is inserted and
// nothing is delivered.
type Events struct {
	// Endpoints are the URLs each message goes to (EVENTS_WEBHOOK_URL). With
	// none, InsertTx inserts nothing, and a working Queue cancels what is
	// still queued for endpoints that are gone (see unknownEndpointGrace).
	Endpoints []string
	// Render returns the JSON body of a message; required with Endpoints.
	Render func(billing.Message) ([]byte, error)
	// Deliver POSTs one delivery; nil means the endpoint answered 2xx. With
	// a nil Deliver the Queue only inserts (one-shot commands): it never
	// works deliveries, whatever it is configured with.
	Deliver func(ctx context.Context, d Delivery) error
	// Observe, when set, is told the result of each attempt (for metrics),
	// except of one interrupted by a shutdown, which River puts back.
	Observe func(d Delivery, result DeliveryResult)
	// Now is the clock of the retry schedule and of unknownEndpointGrace;
	// default time.Now. River
	// replaces a retry time before its own clock's now with its default
	// policy, so this clock must not lag the wall clock.
	Now func() time.Time

	// retry overrides deliveryRetry; tests only (export_test.go), so that no
	// configuration can shorten the retries promised to receivers.
	retry *retryPolicy
}

// Delivery is one message on its way to one endpoint: the args of a River
// job of kind "event_delivery", stored as JSON.
type Delivery struct {
	Endpoint string `json:"endpoint"`
	// MessageID is the receivers' dedupe key, the same on every attempt and
	// to every endpoint.
	MessageID string          `json:"message_id"`
	Type      string          `json:"type"`
	OrgID     string          `json:"org_id"`
	Body      json.RawMessage `json:"body"`
}

// A delivery for an endpoint this replica is not configured with may come
// from a replica with a newer configuration (a rolling update that adds an
// endpoint) as well as from an older one (one removed it): any replica
// works any job. So it is put back for a replica that knows the endpoint,
// and dropped only once it is older than any rollout takes.
const (
	unknownEndpointGrace = time.Hour
	unknownEndpointRetry = time.Minute
)

// deliveryKind is the River job kind of a Delivery.
const deliveryKind = "event_delivery"

// Kind implements river.JobArgs.
func (Delivery) Kind() string { return deliveryKind }

// DeliveryResult is what became of one delivery attempt.
type DeliveryResult string

const (
	Delivered DeliveryResult = "delivered" // the endpoint answered 2xx
	Retrying  DeliveryResult = "retrying"  // failed; will be retried
	Dead      DeliveryResult = "dead"      // failed, retries exhausted: discarded
	Dropped   DeliveryResult = "dropped"   // the endpoint is no longer configured: cancelled
)

// eventsQueue is the River queue of deliveries, apart from the periodic
// jobs' default queue so that a backlog of deliveries never delays a
// reconcile, nor a reconcile the deliveries.
const eventsQueue = "events"

const (
	// deliveryTimeout bounds one attempt: above the 10 s HTTP timeout the
	// sender enforces, so that its own, more telling error is the one recorded.
	deliveryTimeout = 15 * time.Second
	// deliveryPollInterval is how often a replica looks for deliveries.
	// Neither driver billingd uses supports LISTEN, so River only polls,
	// and its default of 1 s would be the typical delivery latency.
	deliveryPollInterval = 100 * time.Millisecond
	// deliveryFetchCooldown is the least time between two fetches: a worker
	// that finishes asks for more at once, so a backlog is worked at the
	// workers' pace, not at one batch per poll (10 per 100 ms).
	deliveryFetchCooldown = 10 * time.Millisecond
)

// DeliveryWorkers is how many deliveries, or batches, a replica works at
// once: as many requests to one endpoint at a time.
const DeliveryWorkers = 10

// leftoverPollInterval is how often a replica without endpoints looks for
// deliveries left from an earlier configuration, to drop them: rarely, since
// on SQLite each look is a write.
const leftoverPollInterval = 5 * time.Second

// queueConfig is River's configuration of the events queue.
func (e Events) queueConfig() river.QueueConfig {
	poll := deliveryPollInterval
	if len(e.Endpoints) == 0 {
		poll = leftoverPollInterval
	}
	return river.QueueConfig{MaxWorkers: DeliveryWorkers, FetchPollInterval: poll, FetchCooldown: deliveryFetchCooldown}
}

// validate reports a configuration InsertTx could not work with.
func (e Events) validate() error {
	if len(e.Endpoints) > 0 && e.Render == nil {
		return errors.New("jobs: events: Render is required with Endpoints")
	}
	return nil
}

func (e Events) policy() retryPolicy {
	if e.retry != nil {
		return *e.retry
	}
	return deliveryRetry
}

// InsertTx queues a delivery of each message to each endpoint in tx, a
// transaction on the Queue's DB: they commit, or roll back, with it. Each
// body is rendered once. A lone message is one Delivery job per endpoint;
// several are one batch per endpoint (see batch.go), in message order. It
// implements store.Outbox.
func (q *Queue) InsertTx(ctx context.Context, tx *sql.Tx, msgs []billing.Message) error {
	endpoints := q.events.Endpoints
	if len(endpoints) == 0 || len(msgs) == 0 {
		return nil
	}
	queued := make([]queuedMessage, len(msgs))
	for i, m := range msgs {
		body, err := q.events.Render(m)
		if err != nil {
			return fmt.Errorf("jobs: render message %s: %w", m.ID, err)
		}
		queued[i] = queuedMessage{MessageID: m.ID, Type: string(m.Type), OrgID: m.OrgID, Body: string(body)}
	}
	opts := q.events.insertOpts()
	params := make([]river.InsertManyParams, len(endpoints))
	for i, endpoint := range endpoints {
		batch := deliveryBatch{Endpoint: endpoint, Messages: queued}
		var args river.JobArgs = batch
		if len(queued) == 1 {
			args = batch.delivery(0)
		}
		params[i] = river.InsertManyParams{InsertOpts: opts, Args: args}
	}
	if _, err := q.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("jobs: insert deliveries: %w", err)
	}
	return nil
}

// insertOpts are a new delivery's, or batch's: on the events queue, with
// the delivery policy's attempts.
func (e Events) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: eventsQueue, MaxAttempts: e.policy().maxAttempts}
}

// deliveryWorker works deliveries. Every Queue registers it, also one that
// never works deliveries: River refuses to insert a kind without a worker,
// and a leader's rescuer discards stuck jobs of kinds it does not know.
type deliveryWorker struct {
	river.WorkerDefaults[Delivery]
	events Events
	retry  retrySchedule
	rnd    func() float64 // jitter source, [0, 1)
	logger *slog.Logger
}

func newDeliveryWorker(e Events, logger *slog.Logger) *deliveryWorker {
	if e.Now == nil {
		e.Now = time.Now
	}
	return &deliveryWorker{events: e, retry: e.policy().schedule, rnd: rand.Float64, logger: logger}
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[Delivery]) error {
	d := job.Args
	if err := w.checkEndpoint(ctx, d.Endpoint, job.CreatedAt, deliveryAttrs(job)); err != nil {
		if errors.Is(err, errDropped) {
			w.observe(d, Dropped)
		}
		return err
	}
	if w.events.Deliver == nil { // not reached: an insert-only Queue has no events queue
		return errors.New("jobs: this Queue does not deliver events")
	}
	err := w.events.Deliver(ctx, d)
	switch {
	case err == nil:
		w.observe(d, Delivered)
	case errors.Is(ctx.Err(), context.Canceled):
		// Stopped or cancelled by River, not failed: River puts it back,
		// or cancels it, without counting a failure.
	case job.Attempt >= job.MaxAttempts:
		w.logger.ErrorContext(ctx, "event delivery failed: retries exhausted, discarded",
			append(deliveryAttrs(job), slog.String("error", err.Error()))...)
		w.observe(d, Dead)
	default:
		w.observe(d, Retrying)
	}
	return err
}

// errDropped is why a job for an endpoint no longer configured is cancelled.
var errDropped = errors.New("endpoint no longer configured")

// checkEndpoint returns nil for a job, created at created, for a configured
// endpoint. For another one it returns the snooze that puts the job back
// for a replica that knows the endpoint or, once past any rollout, the
// cancellation (errDropped) that drops it, logged with attrs.
func (w *deliveryWorker) checkEndpoint(ctx context.Context, endpoint string, created time.Time, attrs []any) error {
	if slices.Contains(w.events.Endpoints, endpoint) {
		return nil
	}
	if w.events.Now().Sub(created) < unknownEndpointGrace {
		return river.JobSnooze(unknownEndpointRetry)
	}
	w.logger.WarnContext(ctx, "event delivery dropped: endpoint no longer configured", attrs...)
	return river.JobCancel(errDropped)
}

// deliveryAttrs name a delivery in logs; never its body.
func deliveryAttrs(job *river.Job[Delivery]) []any {
	return []any{
		slog.Int64("job_id", job.ID), slog.String("message_id", job.Args.MessageID),
		slog.String("type", job.Args.Type), slog.String("org_id", job.Args.OrgID),
		slog.String("endpoint", outbound.RedactEndpoint(job.Args.Endpoint)), slog.Int("attempts", job.Attempt),
	}
}

func (w *deliveryWorker) observe(d Delivery, r DeliveryResult) {
	if w.events.Observe != nil {
		w.events.Observe(d, r)
	}
}

// NextRetry overrides River's retry policy with the delivery schedule.
func (w *deliveryWorker) NextRetry(job *river.Job[Delivery]) time.Time {
	return w.retryAt(job.Attempt)
}

// retryAt is when to try again after failed attempt number attempt.
func (w *deliveryWorker) retryAt(attempt int) time.Time {
	return w.events.Now().Add(w.retry.delay(attempt, w.rnd))
}

func (w *deliveryWorker) Timeout(*river.Job[Delivery]) time.Duration { return deliveryTimeout }
