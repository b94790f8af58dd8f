package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/billingd/billingd/internal/outbound"
)

// The messages one transaction queues for one endpoint share one job: a
// batch. A River job costs an insert, a fetch, a completion and a deletion,
// each a new version of a heavily indexed row, which cost more than the
// change the message reports; a batch pays them once. Its first attempt
// delivers the messages one after another, in the order they were queued.
// From the first that fails on, each becomes an ordinary Delivery of its
// own, in the transaction that completes the batch: the failed one waits
// for its first retry, the others are attempted at once, and from then on
// each is retried, listed as dead and requeued like any single delivery.

// deliveryBatchKind is the River job kind of a deliveryBatch.
const deliveryBatchKind = "event_delivery_batch"

// deliveryBatch is the args of a batch: several messages to one endpoint.
type deliveryBatch struct {
	Endpoint string          `json:"endpoint"`
	Messages []queuedMessage `json:"messages"`
}

// queuedMessage is a Delivery without its endpoint, and with its body as a
// JSON string rather than an object: River's GIN index over args then holds
// one entry for it, not one per field, in each version of the job's row.
type queuedMessage struct {
	MessageID string `json:"message_id"`
	Type      string `json:"type"`
	OrgID     string `json:"org_id"`
	Body      string `json:"body"`
}

// Kind implements river.JobArgs.
func (deliveryBatch) Kind() string { return deliveryBatchKind }

// delivery is message i of the batch as a delivery of its own.
func (b deliveryBatch) delivery(i int) Delivery {
	m := b.Messages[i]
	return Delivery{Endpoint: b.Endpoint, MessageID: m.MessageID, Type: m.Type, OrgID: m.OrgID, Body: json.RawMessage(m.Body)}
}

// handOffTimeout bounds the transaction that turns what is left of a batch
// into single deliveries; it runs also when the batch's own time is up.
const handOffTimeout = 10 * time.Second

// batchWorker works batches, with the single deliveries' worker's
// configuration, clock and retry schedule.
type batchWorker struct {
	river.WorkerDefaults[deliveryBatch]
	single *deliveryWorker
	db     *sql.DB
}

func (w *batchWorker) Work(ctx context.Context, job *river.Job[deliveryBatch]) error {
	b := job.Args
	if err := w.single.checkEndpoint(ctx, b.Endpoint, job.CreatedAt, batchAttrs(job)); err != nil {
		if errors.Is(err, errDropped) {
			for i := range b.Messages {
				w.single.observe(b.delivery(i), Dropped)
			}
		}
		return err
	}
	if w.single.events.Deliver == nil { // not reached: an insert-only Queue has no events queue
		return errors.New("jobs: this Queue does not deliver events")
	}
	for i := range b.Messages {
		d := b.delivery(i)
		err := w.single.events.Deliver(ctx, d)
		if err == nil {
			w.single.observe(d, Delivered)
			continue
		}
		interrupted := errors.Is(ctx.Err(), context.Canceled)
		if herr := w.handOff(ctx, job, i, interrupted); herr != nil {
			// The whole batch is attempted again: receivers dedupe on the
			// message id the messages already delivered keep.
			w.single.logger.WarnContext(ctx, "event delivery batch: could not queue its messages singly",
				append(batchAttrs(job), slog.String("error", herr.Error()))...)
			return errors.Join(err, herr)
		}
		if !interrupted {
			w.single.observe(d, Retrying)
		}
		return nil
	}
	return nil
}

// handOff queues messages i and after as single deliveries and completes
// the batch, in one transaction: each is then delivered exactly as often
// as if it had been queued alone. Message i failed (unless interrupted, by
// a shutdown): it waits for its first retry. The ones after it were not
// attempted: they are available at once.
func (w *batchWorker) handOff(ctx context.Context, job *river.Job[deliveryBatch], i int, interrupted bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handOffTimeout)
	defer cancel()
	client := river.ClientFromContext[*sql.Tx](ctx)
	params := make([]river.InsertManyParams, 0, len(job.Args.Messages)-i)
	for k := i; k < len(job.Args.Messages); k++ {
		opts := w.single.events.insertOpts()
		if k == i && !interrupted {
			opts.ScheduledAt = w.single.retryAt(1)
		}
		params = append(params, river.InsertManyParams{Args: job.Args.delivery(k), InsertOpts: opts})
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	// The driver type only satisfies the signature: JobCompleteTx works
	// through the client in ctx, whichever driver that has.
	if _, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("complete the batch: %w", err)
	}
	return tx.Commit()
}

// batchAttrs name a batch in logs; never its bodies.
func batchAttrs(job *river.Job[deliveryBatch]) []any {
	return []any{
		slog.Int64("job_id", job.ID), slog.Int("messages", len(job.Args.Messages)),
		slog.String("endpoint", outbound.RedactEndpoint(job.Args.Endpoint)), slog.Int("attempts", job.Attempt),
	}
}

// NextRetry is the batch's when its hand-off failed.
func (w *batchWorker) NextRetry(job *river.Job[deliveryBatch]) time.Time {
	return w.single.retryAt(job.Attempt)
}

// Timeout gives each message of the batch the time of a single delivery.
func (w *batchWorker) Timeout(job *river.Job[deliveryBatch]) time.Duration {
	return deliveryTimeout * time.Duration(max(1, len(job.Args.Messages)))
}
