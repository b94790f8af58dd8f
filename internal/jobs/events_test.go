package jobs_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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

// job is a delivery job, single or batch, as stored.
type job struct {
	id          int64
	kind        string
	state       string
	queue       string
	maxAttempts int
	args        jobs.Delivery // a single delivery's
	batch       batchArgs     // a batch's
}

// batchArgs is a batch's args as stored.
type batchArgs struct {
	Endpoint string `json:"endpoint"`
	Messages []struct {
		MessageID string `json:"message_id"`
		Type      string `json:"type"`
		OrgID     string `json:"org_id"`
		Body      string `json:"body"` // the JSON body, as a string
	} `json:"messages"`
}

// storedJobs returns the delivery and batch jobs in db in id order.
func storedJobs(t *testing.T, dialect string, db *sql.DB) []job {
	t.Helper()
	args := "args"
	if dialect == jobs.SQLite {
		args = "json(args)" // River stores SQLite's as JSONB
	}
	rows, err := db.QueryContext(context.Background(), "SELECT id, kind, state, queue, max_attempts, "+args+
		" FROM river_job WHERE kind IN ('event_delivery', 'event_delivery_batch') ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []job
	for rows.Next() {
		var j job
		var args []byte
		if err := rows.Scan(&j.id, &j.kind, &j.state, &j.queue, &j.maxAttempts, &args); err != nil {
			t.Fatal(err)
		}
		into := any(&j.args)
		if j.kind == "event_delivery_batch" {
			into = &j.batch
		}
		if err := json.Unmarshal(args, into); err != nil {
			t.Fatalf("args %s: %v", args, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// deliveryJobs returns the single delivery jobs in db in id order.
func deliveryJobs(t *testing.T, dialect string, db *sql.DB) []job {
	t.Helper()
	return ofKind(storedJobs(t, dialect, db), "event_delivery")
}

func ofKind(all []job, kind string) []job {
	var out []job
	for _, j := range all {
		if j.kind == kind {
			out = append(out, j)
		}
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

// TestInsertTx_Committed: a committed transaction of one message leaves one
// delivery per endpoint; one of several messages, one batch per endpoint
// holding them in message order. Each body is rendered once, and every
// endpoint gets the same message id.
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
		msgs := messages(4)
		enqueue(t, db, q, true, msgs[0])
		enqueue(t, db, q, true, msgs[1:]...)

		if n := renders.Load(); n != 4 {
			t.Errorf("rendered %d times for 4 messages, want 4", n)
		}
		got := storedJobs(t, d.dialect, db)
		if len(got) != 4 {
			t.Fatalf("%d jobs, want 4 (2 deliveries of the lone message, 2 batches of the other 3)", len(got))
		}
		endpoints := []string{endpointA, endpointB}
		for i, j := range got {
			if j.queue != "events" || j.state != "available" || j.maxAttempts != jobs.DeliveryMaxAttempts {
				t.Errorf("job %d: queue %q state %q max_attempts %d, want events, available, %d",
					i, j.queue, j.state, j.maxAttempts, jobs.DeliveryMaxAttempts)
			}
			if i < 2 {
				if j.kind != "event_delivery" {
					t.Fatalf("job %d is a %s, want a single delivery", i, j.kind)
				}
				assertDelivery(t, fmt.Sprintf("job %d", i), j.args, endpoints[i], msgs[0])
				continue
			}
			if j.kind != "event_delivery_batch" || j.batch.Endpoint != endpoints[i-2] || len(j.batch.Messages) != 3 {
				t.Fatalf("job %d: %s to %s of %d messages, want a batch to %s of 3", i, j.kind, j.batch.Endpoint, len(j.batch.Messages), endpoints[i-2])
			}
			for k, m := range j.batch.Messages {
				d := jobs.Delivery{Endpoint: j.batch.Endpoint, MessageID: m.MessageID, Type: m.Type, OrgID: m.OrgID, Body: []byte(m.Body)}
				assertDelivery(t, fmt.Sprintf("job %d, message %d", i, k), d, endpoints[i-2], msgs[1+k])
			}
		}
	})
}

// assertDelivery checks that d delivers m to endpoint.
func assertDelivery(t *testing.T, what string, d jobs.Delivery, endpoint string, m billing.Message) {
	t.Helper()
	if d.Endpoint != endpoint || d.MessageID != m.ID || d.Type != string(m.Type) || d.OrgID != m.OrgID {
		t.Errorf("%s: %s %s %s to %s, want %s %s %s to %s", what, d.MessageID, d.Type, d.OrgID, d.Endpoint, m.ID, m.Type, m.OrgID, endpoint)
	}
	if wantBody, _ := render(m); !sameJSON(t, d.Body, wantBody) {
		t.Errorf("%s: body %s, want %s", what, d.Body, wantBody)
	}
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
		enqueue(t, db, q, false, message(1))
		enqueue(t, db, q, false, messages(2)...)
		if got := storedJobs(t, d.dialect, db); len(got) != 0 {
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
		enqueue(t, db, q, true, message(1))
		enqueue(t, db, q, true, messages(2)...)
		if got := storedJobs(t, d.dialect, db); len(got) != 0 {
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
		enqueue(t, db, q, true, message(1))
		enqueue(t, db, q, true, messages(2)...)
		time.Sleep(500 * time.Millisecond) // five polls of a working Queue
		if got := storedJobs(t, d.dialect, db); len(got) != 2 || got[0].state != "available" || got[1].state != "available" {
			t.Fatalf("delivery jobs %+v, want a delivery and a batch, still available", got)
		}
	})
}
