package httpapi_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/httpapi"
)

func TestLifecycle(t *testing.T) {
	t.Run("ReadyzFailsOnceShutdownBegins", func(t *testing.T) {
		life := httpapi.NewLifecycle()
		ts := newTestServer(t, func(d *httpapi.Deps) { d.Lifecycle = life })
		if r := ts.do(t, http.MethodGet, "/readyz", "", nil, nil); r.status != http.StatusOK {
			t.Fatalf("readyz = %d, want 200", r.status)
		}
		life.BeginShutdown()
		if r := ts.do(t, http.MethodGet, "/readyz", "", nil, nil); r.status != http.StatusServiceUnavailable || r.errorMessage() != "Shutting down" {
			t.Fatalf("readyz after BeginShutdown = %d %q, want 503 Shutting down", r.status, r.errorMessage())
		}
	})
	t.Run("DrainAnswersLongPollsAtOnce", func(t *testing.T) {
		life := httpapi.NewLifecycle()
		ts := newTestServer(t, func(d *httpapi.Deps) { d.Lifecycle = life })
		life.Drain()
		start := time.Now()
		r := ts.do(t, http.MethodGet, "/api/billing/entitlement?wait=20", token(t, userClaims("org_a")), nil, nil)
		if took := time.Since(start); r.status != http.StatusOK || took > 5*time.Second {
			t.Fatalf("long-poll after Drain = %d after %v, want 200 at once", r.status, took)
		}
	})
	t.Run("ReadyzPingsWithOneSecondDeadline", func(t *testing.T) {
		db := &hangingDB{}
		ts := newTestServer(t, func(d *httpapi.Deps) { d.Database = db })
		if r := ts.do(t, http.MethodGet, "/readyz", "", nil, nil); r.status != http.StatusServiceUnavailable || r.errorCode() != "UNAVAILABLE" {
			t.Fatalf("readyz with a hanging database = %d %s, want 503 UNAVAILABLE", r.status, r.errorCode())
		}
		if d := time.Duration(db.deadline.Load()); d <= 0 || d > time.Second {
			t.Fatalf("ping deadline %v away, want 1 s", d)
		}
	})
}

// hangingDB is a database that never answers a ping before its deadline; it
// notes how far away the deadline was.
type hangingDB struct{ deadline atomic.Int64 }

func (h *hangingDB) Ping(ctx context.Context) error {
	d, ok := ctx.Deadline()
	if !ok {
		return context.DeadlineExceeded // no deadline: fail rather than hang the test
	}
	h.deadline.Store(int64(time.Until(d)))
	<-ctx.Done()
	return ctx.Err()
}
