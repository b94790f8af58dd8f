package jobs_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/jobs"
)

// The messages of one transaction, queued as one batch per endpoint: what
// their receivers get, and what becomes of them when one fails.

// deliveryLog records the message ids Deliver was called with, and their outcome.
type deliveryLog struct {
	mu    sync.Mutex
	calls []string // message id, "!" appended when the attempt failed
}

func (l *deliveryLog) add(id string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		id += "!"
	}
	l.calls = append(l.calls, id)
}

func (l *deliveryLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// TestBatch_DeliveredInOrder: each endpoint gets a batch's messages once
// each, in the order they were queued, and the batch is completed.
func TestBatch_DeliveredInOrder(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		logs := map[string]*deliveryLog{endpointA: {}, endpointB: {}}
		var rec recorder
		q := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA, endpointB},
			Deliver: func(_ context.Context, del jobs.Delivery) error {
				logs[del.Endpoint].add(del.MessageID, nil)
				return nil
			},
			Observe: rec.observe,
		})
		start(t, q)
		msgs := messages(5)
		enqueue(t, db, q, true, msgs...)

		waitFor(t, "ten deliveries", func() bool { return rec.count(jobs.Delivered) == 10 })
		var want []string
		for _, m := range msgs {
			want = append(want, m.ID)
		}
		for endpoint, l := range logs {
			if got := l.all(); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", endpoint, got, want)
			}
		}
		waitFor(t, "both batches completed", func() bool {
			got := storedJobs(t, d.dialect, db)
			return len(got) == 2 && got[0].state == "completed" && got[1].state == "completed"
		})
	})
}

// TestBatch_FailureHandsOffTheRest: when a batch's message fails, it and
// the messages after it go on as single deliveries: the failed one at its
// retry, the rest at once. The message delivered before is not sent again.
func TestBatch_FailureHandsOffTheRest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		var l deliveryLog
		var rec recorder
		var failed sync.Once
		msgs := messages(4)
		ev := jobs.Events{
			Endpoints: []string{endpointA},
			Deliver: func(_ context.Context, del jobs.Delivery) error {
				var err error
				if del.MessageID == msgs[1].ID {
					failed.Do(func() { err = errors.New("503 Service Unavailable") })
				}
				l.add(del.MessageID, err)
				return err
			},
			Observe: rec.observe,
		}
		// A retry long enough that the messages after the failed one,
		// available at once, are delivered before it.
		jobs.ShortRetries(&ev, time.Second, 5)
		q := newQueue(t, db, d.dialect, ev)
		start(t, q)
		enqueue(t, db, q, true, msgs...)

		waitFor(t, "four deliveries", func() bool { return rec.count(jobs.Delivered) == 4 })
		got := l.all()
		if len(got) != 5 || got[0] != msgs[0].ID || got[1] != msgs[1].ID+"!" || got[4] != msgs[1].ID ||
			!slices.Contains(got[2:4], msgs[2].ID) || !slices.Contains(got[2:4], msgs[3].ID) {
			t.Errorf("attempts %v, want %s, %s!, then %s and %s, then %s's retry",
				got, msgs[0].ID, msgs[1].ID, msgs[2].ID, msgs[3].ID, msgs[1].ID)
		}
		if n := rec.count(jobs.Retrying); n != 1 {
			t.Errorf("Observe saw %v, want one retrying", rec.results())
		}
		stored := storedJobs(t, d.dialect, db)
		batches, singles := ofKind(stored, "event_delivery_batch"), ofKind(stored, "event_delivery")
		if len(batches) != 1 || batches[0].state != "completed" {
			t.Errorf("batches %+v, want one, completed", batches)
		}
		var handedOff []string
		for _, j := range singles {
			handedOff = append(handedOff, j.args.MessageID)
		}
		if want := []string{msgs[1].ID, msgs[2].ID, msgs[3].ID}; !slices.Equal(handedOff, want) {
			t.Errorf("single deliveries of %v, want %v", handedOff, want)
		}
	})
}

// TestBatch_InterruptedByShutdown: a batch cut short by a shutdown leaves
// what it had not delivered as single deliveries, which the next replica
// delivers; nothing counts as failed and nothing is sent twice.
func TestBatch_InterruptedByShutdown(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		msgs := messages(3)
		var l deliveryLog
		var rec recorder
		blocked := make(chan struct{})
		first := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA},
			Deliver: func(ctx context.Context, del jobs.Delivery) error {
				if del.MessageID == msgs[1].ID {
					close(blocked)
					<-ctx.Done() // a receiver that does not answer before the shutdown
					l.add(del.MessageID, ctx.Err())
					return ctx.Err()
				}
				l.add(del.MessageID, nil)
				return nil
			},
			Observe: rec.observe,
		})
		if err := first.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		enqueue(t, db, first, true, msgs...)
		<-blocked
		stopCtx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := first.Stop(stopCtx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if got := rec.results(); !slices.Equal(got, []jobs.DeliveryResult{jobs.Delivered}) {
			t.Errorf("Observe saw %v before the shutdown, want one delivered and nothing failed", got)
		}

		next := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA},
			Deliver: func(_ context.Context, del jobs.Delivery) error {
				l.add(del.MessageID, nil)
				return nil
			},
			Observe: rec.observe,
		})
		start(t, next)
		waitFor(t, "the rest delivered", func() bool { return rec.count(jobs.Delivered) == 3 })
		got := l.all()
		if len(got) != 4 || got[0] != msgs[0].ID || got[1] != msgs[1].ID+"!" ||
			!slices.Contains(got[2:], msgs[1].ID) || !slices.Contains(got[2:], msgs[2].ID) {
			t.Errorf("attempts %v, want %s once, %s interrupted, then %s and %s", got, msgs[0].ID, msgs[1].ID, msgs[1].ID, msgs[2].ID)
		}
		if n := rec.count(jobs.Retrying); n != 0 {
			t.Errorf("%d attempts counted as failed, want none: a shutdown is not a failure", n)
		}
	})
}

// TestDeadDeliveries_Batch: a batch River discarded lists each of its
// messages under its job id, and retrying that job delivers them all.
func TestDeadDeliveries_Batch(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		ctx := context.Background()
		db := migrated(t, d)
		var rec recorder
		q := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA},
			Deliver:   func(context.Context, jobs.Delivery) error { return nil },
			Observe:   rec.observe,
		})
		msgs := messages(2)
		enqueue(t, db, q, true, msgs...)
		batch := storedJobs(t, d.dialect, db)[0]
		// As a batch whose hand-off failed every attempt would be left.
		if _, err := db.ExecContext(ctx, "UPDATE river_job SET state = 'discarded', attempt = 1, attempted_at = created_at, finalized_at = created_at WHERE id = $1", batch.id); err != nil {
			t.Fatal(err)
		}
		dead, err := q.DeadDeliveries(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) != 2 || dead[0].JobID != batch.id || dead[1].JobID != batch.id ||
			dead[0].MessageID != msgs[0].ID || dead[1].MessageID != msgs[1].ID || dead[0].Endpoint != endpointA {
			t.Fatalf("dead deliveries %+v, want both messages under job %d", dead, batch.id)
		}
		if dead, err := q.DeadDeliveries(ctx, 1); err != nil || len(dead) != 1 {
			t.Errorf("DeadDeliveries(limit 1) = %d, %v; want one", len(dead), err)
		}

		if err := q.RetryDelivery(ctx, batch.id); err != nil {
			t.Fatalf("RetryDelivery(batch): %v", err)
		}
		start(t, q)
		waitFor(t, "both messages delivered", func() bool { return rec.count(jobs.Delivered) == 2 })
	})
}
