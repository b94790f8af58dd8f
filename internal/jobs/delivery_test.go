package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/jobs"
)

// Delivering the queued messages: retries, several replicas, endpoints that
// change. The outbox side (InsertTx) and the shared helpers are in
// events_test.go.

// TestDelivery_RetriedUntilDelivered: a failing delivery is retried, with the
// same message id, until the endpoint takes it.
func TestDelivery_RetriedUntilDelivered(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		var rec recorder
		var calls []string
		var mu sync.Mutex
		ev := jobs.Events{
			Endpoints: []string{endpointA},
			Deliver: func(_ context.Context, del jobs.Delivery) error {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, del.MessageID)
				if len(calls) < 3 {
					return errors.New("502 Bad Gateway")
				}
				return nil
			},
			Observe: rec.observe,
		}
		jobs.ShortRetries(&ev, 10*time.Millisecond, 5)
		q := newQueue(t, db, d.dialect, ev)
		start(t, q)
		msg := message(1)
		enqueue(t, db, q, true, msg)

		waitFor(t, "the delivery", func() bool { return rec.count(jobs.Delivered) == 1 })
		want := []jobs.DeliveryResult{jobs.Retrying, jobs.Retrying, jobs.Delivered}
		if got := rec.results(); !slices.Equal(got, want) {
			t.Errorf("Observe saw %v, want %v", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(calls, []string{msg.ID, msg.ID, msg.ID}) {
			t.Errorf("attempts carried message ids %v, want %s each time", calls, msg.ID)
		}
	})
}

// TestDelivery_TwoReplicasOncePerEndpoint: with two replicas working one
// database, each message reaches each endpoint exactly once, whether it was
// queued alone or in a batch.
func TestDelivery_TwoReplicasOncePerEndpoint(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		const n = 20
		var mu sync.Mutex
		delivered := map[string]int{} // message id + endpoint → calls
		ev := jobs.Events{
			Endpoints: []string{endpointA, endpointB},
			Deliver: func(_ context.Context, del jobs.Delivery) error {
				mu.Lock()
				defer mu.Unlock()
				delivered[del.MessageID+" "+del.Endpoint]++
				return nil
			},
		}
		db := migrated(t, d)
		replicas := []*jobs.Queue{newQueue(t, db, d.dialect, ev), newQueue(t, d.open(t), d.dialect, ev)}
		for _, q := range replicas {
			start(t, q)
		}
		all := messages(n)
		for i := 0; i < n; i += 5 { // transactions of 1, 4, 1, 4, … messages
			enqueue(t, db, replicas[0], true, all[i])
			enqueue(t, db, replicas[0], true, all[i+1:i+5]...)
		}

		// Once nothing is left to work, no further delivery can happen.
		waitFor(t, "an empty backlog", func() bool {
			depth, _, err := replicas[1].Backlog(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return depth == 0
		})
		mu.Lock()
		defer mu.Unlock()
		for _, m := range messages(n) {
			for _, e := range ev.Endpoints {
				if c := delivered[m.ID+" "+e]; c != 1 {
					t.Errorf("%s to %s delivered %d times, want once", m.ID, e, c)
				}
			}
		}
		if len(delivered) != 2*n {
			t.Errorf("%d distinct deliveries, want %d", len(delivered), 2*n)
		}
	})
}

// TestDelivery_AllEndpointsRemoved: a replica started without endpoints
// still drops what an earlier configuration left queued, rather than leaving
// it in the backlog for good.
func TestDelivery_AllEndpointsRemoved(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		before := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA}})
		enqueue(t, db, before, true, message(1))
		var rec recorder
		after := newQueue(t, db, d.dialect, jobs.Events{
			Deliver: func(context.Context, jobs.Delivery) error { return errors.New("must not be called") },
			Observe: rec.observe,
			Now:     pastRollouts,
		})
		start(t, after)
		waitFor(t, "the leftover delivery dropped", func() bool { return rec.count(jobs.Dropped) == 1 })
		waitFor(t, "an empty backlog", func() bool {
			depth, _, err := after.Backlog(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return depth == 0
		})
	})
}

// pastRollouts is a clock later than any rollout takes: a delivery for an
// endpoint the replica does not know is then dropped, not put back.
func pastRollouts() time.Time { return time.Now().Add(2 * time.Hour) }

// TestDelivery_EndpointRemoved: a delivery or batch queued for an endpoint
// that is no longer configured is cancelled, not sent.
func TestDelivery_EndpointRemoved(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		before := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA, endpointB}})
		enqueue(t, db, before, true, message(1))
		enqueue(t, db, before, true, message(2), message(3))

		var rec recorder
		var sentToB atomic.Bool
		after := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA},
			Deliver: func(_ context.Context, del jobs.Delivery) error {
				if del.Endpoint == endpointB {
					sentToB.Store(true)
				}
				return nil
			},
			Observe: rec.observe,
			Now:     pastRollouts,
		})
		start(t, after)
		waitFor(t, "all six deliveries finished", func() bool { return len(rec.results()) == 6 })

		if sentToB.Load() {
			t.Error("delivered to the removed endpoint")
		}
		if rec.count(jobs.Dropped) != 3 || rec.count(jobs.Delivered) != 3 {
			t.Errorf("Observe saw %v, want three dropped and three delivered", rec.results())
		}
		waitFor(t, "the dropped jobs cancelled", func() bool {
			cancelled := 0
			for _, j := range storedJobs(t, d.dialect, db) {
				if (j.args.Endpoint == endpointB || j.batch.Endpoint == endpointB) && j.state == "cancelled" {
					cancelled++
				}
			}
			return cancelled == 2
		})
	})
}

// TestDelivery_DeadThenRetried: a delivery that fails every attempt is
// discarded with one error log line, listed as dead, and delivered after an
// operator retries it.
func TestDelivery_DeadThenRetried(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		var rec recorder
		var up atomic.Bool
		ev := jobs.Events{
			Endpoints: []string{endpointA + "?token=secret"},
			Deliver: func(context.Context, jobs.Delivery) error {
				if up.Load() {
					return nil
				}
				return errors.New("connection refused")
			},
			Observe: rec.observe,
		}
		jobs.ShortRetries(&ev, 10*time.Millisecond, 2)
		var logs syncBuffer
		q, err := jobs.New(jobs.Config{DB: db, Dialect: d.dialect, Events: withRender(ev),
			Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start(t, q)
		msg := message(7)
		enqueue(t, db, q, true, msg)

		ctx := context.Background()
		var dead []jobs.DeadDelivery
		waitFor(t, "a dead delivery", func() bool {
			if dead, err = q.DeadDeliveries(ctx, 10); err != nil {
				t.Fatal(err)
			}
			return len(dead) == 1
		})
		got := dead[0]
		if got.MessageID != msg.ID || got.Type != string(msg.Type) || got.OrgID != msg.OrgID ||
			got.Endpoint != ev.Endpoints[0] || got.Attempts != 2 || got.LastError != "connection refused" ||
			got.FinalizedAt.IsZero() || got.JobID == 0 {
			t.Errorf("dead delivery %+v", got)
		}
		if want := []jobs.DeliveryResult{jobs.Retrying, jobs.Dead}; !slices.Equal(rec.results(), want) {
			t.Errorf("Observe saw %v, want %v", rec.results(), want)
		}
		assertDeadLog(t, logs.String(), msg)

		up.Store(true)
		if err := q.RetryDelivery(ctx, got.JobID); err != nil {
			t.Fatalf("RetryDelivery: %v", err)
		}
		waitFor(t, "the retried delivery", func() bool { return rec.count(jobs.Delivered) == 1 })
		waitFor(t, "no dead delivery left", func() bool {
			dead, err := q.DeadDeliveries(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(dead) == 0
		})
		// Delivered now: retrying it again would deliver it twice.
		if err := q.RetryDelivery(ctx, got.JobID); err == nil || !strings.Contains(err.Error(), "nothing to retry") {
			t.Fatalf("RetryDelivery(delivered job) = %v, want an error saying there is nothing to retry", err)
		}
	})
}

func withRender(ev jobs.Events) jobs.Events {
	ev.Render = render
	return ev
}

// assertDeadLog checks the one error line of a dead delivery: it names the
// delivery and the error, never the body or the endpoint's query.
func assertDeadLog(t *testing.T, logs string, msg billing.Message) {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == "ERROR" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d error log lines, want 1:\n%s", len(lines), logs)
	}
	line := lines[0]
	for key, want := range map[string]any{
		"message_id": msg.ID, "type": string(msg.Type), "org_id": msg.OrgID,
		"endpoint": endpointA, "attempts": float64(2), "error": "connection refused",
	} {
		if line[key] != want {
			t.Errorf("error log %s = %v, want %v", key, line[key], want)
		}
	}
	if strings.Contains(logs, `"org":`) || strings.Contains(logs, `\"org\"`) || strings.Contains(logs, "secret") {
		t.Errorf("logs hold the body or the endpoint's token:\n%s", logs)
	}
}

// TestDelivery_EndpointAddedDuringRollout: a replica still on the old
// configuration works a delivery a newer replica queued for an endpoint it
// added: the delivery is put back for a replica that knows the endpoint,
// not dropped.
func TestDelivery_EndpointAddedDuringRollout(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		newer := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA, endpointB}})
		enqueue(t, db, newer, true, message(1))

		var rec recorder
		older := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA},
			Deliver:   func(context.Context, jobs.Delivery) error { return nil },
			Observe:   rec.observe,
		})
		start(t, older)
		waitFor(t, "the delivery to A made and the one to B put back", func() bool {
			if rec.count(jobs.Delivered) != 1 {
				return false
			}
			for _, j := range deliveryJobs(t, d.dialect, db) {
				if j.args.Endpoint == endpointB {
					return j.state == "scheduled"
				}
			}
			return false
		})
		if n := rec.count(jobs.Dropped); n != 0 {
			t.Errorf("%d deliveries dropped, want the one to B kept for a replica that knows it", n)
		}
	})
}
