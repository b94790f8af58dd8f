package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/jobs"
)

// TestBacklog: the backlog counts the messages of every unfinished delivery
// and batch, and dates the oldest; empty, it is zero.
func TestBacklog(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		ctx := context.Background()
		db := migrated(t, d)
		q := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA, endpointB}})

		depth, oldest, err := q.Backlog(ctx)
		if err != nil || depth != 0 || !oldest.IsZero() {
			t.Fatalf("empty Backlog = %d, %v, %v; want 0, zero time, nil", depth, oldest, err)
		}

		first := time.Now()
		enqueue(t, db, q, true, message(1))
		time.Sleep(20 * time.Millisecond) // so that the second batch is younger
		enqueue(t, db, q, true, message(2))
		enqueue(t, db, q, true, messages(3)...) // a batch per endpoint

		depth, oldest, err = q.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if depth != 10 {
			t.Errorf("depth %d, want 10 (5 messages × 2 endpoints)", depth)
		}
		firstJob := deliveryJobs(t, d.dialect, db)[0]
		var created time.Time
		if err := db.QueryRowContext(ctx, "SELECT created_at FROM river_job WHERE id = $1", firstJob.id).Scan(&created); err != nil {
			t.Fatal(err)
		}
		if !oldest.Equal(created) {
			t.Errorf("oldest %v, want the first delivery's created_at %v", oldest, created)
		}
		if d := oldest.Sub(first); d < -time.Second || d > 5*time.Second {
			t.Errorf("oldest %v, %v from when the first message was enqueued", oldest, d)
		}
	})
}

// TestRetryDelivery_NoSuchJob: retrying an unknown id says so.
func TestRetryDelivery_NoSuchJob(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		q := newQueue(t, migrated(t, d), d.dialect, jobs.Events{})
		err := q.RetryDelivery(context.Background(), 424242)
		if err == nil || !strings.Contains(err.Error(), "no such job") {
			t.Fatalf("RetryDelivery(unknown) = %v, want an error saying no such job", err)
		}
	})
}

// TestRetryDelivery_NotADelivery: another kind of job is not retried.
func TestRetryDelivery_NotADelivery(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		ctx := context.Background()
		db := migrated(t, d)
		var id int64
		if err := db.QueryRowContext(ctx,
			"INSERT INTO river_job (args, kind, max_attempts, queue, state) VALUES ('{}', 'reconcile', 1, 'default', 'available') RETURNING id").
			Scan(&id); err != nil {
			t.Fatal(err)
		}
		q := newQueue(t, db, d.dialect, jobs.Events{})
		err := q.RetryDelivery(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "not an event delivery") {
			t.Fatalf("RetryDelivery(reconcile job) = %v, want an error saying it is not a delivery", err)
		}
	})
}

// TestDeadDeliveries_Limit: a limit River cannot list is an error, not a panic.
func TestDeadDeliveries_Limit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		q := newQueue(t, migrated(t, d), d.dialect, jobs.Events{})
		for _, limit := range []int{0, 10_001} {
			if _, err := q.DeadDeliveries(context.Background(), limit); err == nil {
				t.Errorf("DeadDeliveries(limit %d) succeeded, want an error", limit)
			}
		}
	})
}
