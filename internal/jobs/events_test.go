package jobs_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/logtest"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/jobs"
	"github.com/billingd/billingd/internal/store"
)

var _ store.Outbox = (*jobs.Queue)(nil)

const (
	endpointA = "https://a.example/hooks"
	endpointB = "https://b.example/hooks"
)

// migrated opens a pool on d's database with River's schema applied.
func migrated(t *testing.T, d database) *sql.DB {
	t.Helper()
	db := d.open(t)
	if err := jobs.Migrate(context.Background(), db, d.dialect); err != nil {
		t.Fatal(err)
	}
	return db
}

// newQueue returns a Queue over db delivering ev, stopped when the test ends
// if it was started.
func newQueue(t *testing.T, db *sql.DB, dialect string, ev jobs.Events) *jobs.Queue {
	t.Helper()
	if ev.Render == nil {
		ev.Render = render
	}
	q, err := jobs.New(jobs.Config{DB: db, Dialect: dialect, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func start(t *testing.T, q *jobs.Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// render is a stand-in for billingd's renderer.
func render(m billing.Message) ([]byte, error) {
	return json.Marshal(map[string]string{"id": m.ID, "type": string(m.Type), "org": m.OrgID})
}

func message(i int) billing.Message {
	return billing.Message{
		ID: fmt.Sprintf("msg_%03d", i), Type: billing.MessagePaymentSucceeded,
		OrgID: fmt.Sprintf("org_%d", i), At: time.Now(),
	}
}

func messages(n int) []billing.Message {
	msgs := make([]billing.Message, n)
	for i := range msgs {
		msgs[i] = message(i)
	}
	return msgs
}

// enqueue inserts msgs through q in a transaction on db, committed or not.
func enqueue(t *testing.T, db *sql.DB, q *jobs.Queue, commit bool, msgs ...billing.Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := q.InsertTx(ctx, tx, msgs); err != nil {
		t.Fatalf("InsertTx: %v", err)
	}
	if commit {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// job is a delivery job as stored.
type job struct {
	id          int64
	state       string
	queue       string
	maxAttempts int
	args        jobs.Delivery
}

// deliveryJobs returns the delivery jobs in db in id order.
func deliveryJobs(t *testing.T, dialect string, db *sql.DB) []job {
	t.Helper()
	args := "args"
	if dialect == jobs.SQLite {
		args = "json(args)" // River stores SQLite's as JSONB
	}
	rows, err := db.QueryContext(context.Background(),
		"SELECT id, state, queue, max_attempts, "+args+" FROM river_job WHERE kind = 'event_delivery' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []job
	for rows.Next() {
		var j job
		var args []byte
		if err := rows.Scan(&j.id, &j.state, &j.queue, &j.maxAttempts, &args); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(args, &j.args); err != nil {
			t.Fatalf("args %s: %v", args, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// attempt is one delivery attempt as Deliver and Observe saw it.
type attempt struct {
	d      jobs.Delivery
	result jobs.DeliveryResult
}

// recorder records what Observe is told, safe for concurrent workers.
type recorder struct {
	mu       sync.Mutex
	attempts []attempt
}

func (r *recorder) observe(d jobs.Delivery, result jobs.DeliveryResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, attempt{d, result})
}

func (r *recorder) results() []jobs.DeliveryResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []jobs.DeliveryResult
	for _, a := range r.attempts {
		out = append(out, a.result)
	}
	return out
}

func (r *recorder) count(result jobs.DeliveryResult) (n int) {
	for _, got := range r.results() {
		if got == result {
			n++
		}
	}
	return n
}

// syncBuffer collects what the code under test logs from its goroutines.
type syncBuffer = logtest.Buffer

// TestInsertTx_Committed: a committed transaction leaves one delivery per
// endpoint per message, in message order, each body rendered once and the
// same message id to every endpoint.
func TestInsertTx_Committed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		var renders atomic.Int32
		q := newQueue(t, db, d.dialect, jobs.Events{
			Endpoints: []string{endpointA, endpointB},
			Render: func(m billing.Message) ([]byte, error) {
				renders.Add(1)
				return render(m)
			},
		})
		msgs := messages(3)
		enqueue(t, db, q, true, msgs...)

		if n := renders.Load(); n != 3 {
			t.Errorf("rendered %d times for 3 messages, want 3", n)
		}
		got := deliveryJobs(t, d.dialect, db)
		if len(got) != 6 {
			t.Fatalf("%d delivery jobs, want 6 (3 messages × 2 endpoints)", len(got))
		}
		for i, j := range got {
			m := msgs[i/2]
			want := jobs.Delivery{Endpoint: []string{endpointA, endpointB}[i%2], MessageID: m.ID, Type: string(m.Type), OrgID: m.OrgID}
			body := j.args.Body
			j.args.Body = nil
			if j.args.Endpoint != want.Endpoint || j.args.MessageID != want.MessageID || j.args.Type != want.Type || j.args.OrgID != want.OrgID {
				t.Errorf("job %d: args %+v, want %+v", i, j.args, want)
			}
			wantBody, _ := render(m)
			if !sameJSON(t, body, wantBody) {
				t.Errorf("job %d: body %s, want %s", i, body, wantBody)
			}
			if j.queue != "events" || j.state != "available" || j.maxAttempts != jobs.DeliveryMaxAttempts {
				t.Errorf("job %d: queue %q state %q max_attempts %d, want events, available, %d",
					i, j.queue, j.state, j.maxAttempts, jobs.DeliveryMaxAttempts)
			}
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

// TestInsertTx_RolledBack: deliveries roll back with the transaction.
func TestInsertTx_RolledBack(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		q := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA}})
		enqueue(t, db, q, false, messages(2)...)
		if got := deliveryJobs(t, d.dialect, db); len(got) != 0 {
			t.Fatalf("%d delivery jobs after rollback, want none", len(got))
		}
	})
}

// TestInsertTx_NoEndpoints: without endpoints nothing is rendered or inserted.
func TestInsertTx_NoEndpoints(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		q := newQueue(t, db, d.dialect, jobs.Events{Render: func(billing.Message) ([]byte, error) {
			t.Error("rendered without endpoints")
			return nil, nil
		}})
		enqueue(t, db, q, true, messages(2)...)
		if got := deliveryJobs(t, d.dialect, db); len(got) != 0 {
			t.Fatalf("%d delivery jobs without endpoints, want none", len(got))
		}
	})
}

// TestInsertTx_RenderError: a message that cannot be rendered fails the insert.
func TestInsertTx_RenderError(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		errRender := errors.New("cannot render")
		q := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA},
			Render: func(billing.Message) ([]byte, error) { return nil, errRender }})
		ctx := context.Background()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := q.InsertTx(ctx, tx, messages(1)); !errors.Is(err, errRender) {
			t.Fatalf("InsertTx = %v, want the render error", err)
		}
	})
}

// TestInsertTx_InsertOnlyQueue: a Queue without Deliver (a one-shot command)
// inserts deliveries, and even started never works them.
func TestInsertTx_InsertOnlyQueue(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		q := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA}})
		start(t, q)
		enqueue(t, db, q, true, messages(1)...)
		time.Sleep(500 * time.Millisecond) // five polls of a working Queue
		if got := deliveryJobs(t, d.dialect, db); len(got) != 1 || got[0].state != "available" {
			t.Fatalf("delivery jobs %+v, want one, still available", got)
		}
	})
}

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
// database, each message reaches each endpoint exactly once.
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
		enqueue(t, db, replicas[0], true, messages(n)...)

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

// TestDelivery_EndpointRemoved: a delivery queued for an endpoint that is no
// longer configured is cancelled, not sent.
func TestDelivery_EndpointRemoved(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		db := migrated(t, d)
		before := newQueue(t, db, d.dialect, jobs.Events{Endpoints: []string{endpointA, endpointB}})
		enqueue(t, db, before, true, message(1))

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
		waitFor(t, "both deliveries finished", func() bool { return len(rec.results()) == 2 })

		if sentToB.Load() {
			t.Error("delivered to the removed endpoint")
		}
		if rec.count(jobs.Dropped) != 1 || rec.count(jobs.Delivered) != 1 {
			t.Errorf("Observe saw %v, want one dropped and one delivered", rec.results())
		}
		waitFor(t, "the dropped job cancelled", func() bool {
			for _, j := range deliveryJobs(t, d.dialect, db) {
				if j.args.Endpoint == endpointB {
					return j.state == "cancelled"
				}
			}
			return false
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
