package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// readyTimeout bounds /readyz's database ping (SPEC §2): a probe that hangs
// is as bad as one that fails.
const readyTimeout = time.Second

// Pinger is what /readyz asks whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Lifecycle is the process's shutdown state as the HTTP layer acts on it:
// readiness, then draining the long-polls. The domain knows nothing of it.
// The zero value is not usable; NewLifecycle makes one. It is safe for
// concurrent use.
type Lifecycle struct {
	shuttingDown atomic.Bool
	drained      context.Context // ends with Drain
	drain        context.CancelFunc

	mu       sync.Mutex
	held     int           // long-polls waiting apart from net/http (heldPoll)
	heldDone chan struct{} // closed when held drops back to 0
}

// NewLifecycle returns the state of a process that serves.
func NewLifecycle() *Lifecycle {
	l := &Lifecycle{}
	l.drained, l.drain = context.WithCancel(context.Background())
	return l
}

// BeginShutdown makes /readyz fail from now on: the process is about to stop,
// and load balancers should route new requests elsewhere while it still serves.
func (l *Lifecycle) BeginShutdown() { l.shuttingDown.Store(true) }

// Drain makes every long-poll, held now or later, answer at once with the
// current state: the process is shutting down and must not wait out the polls.
func (l *Lifecycle) Drain() { l.drain() }

// WaitHeld waits until every long-poll held apart from net/http has been
// answered, or ctx ends. http.Server.Shutdown does not wait for them: their
// connections are no longer its.
func (l *Lifecycle) WaitHeld(ctx context.Context) error {
	l.mu.Lock()
	if l.held == 0 {
		l.mu.Unlock()
		return nil
	}
	done := l.heldDone
	l.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Held is how many long-polls are held apart from net/http now.
func (l *Lifecycle) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// hold counts a long-poll as held until the returned func is called, once.
func (l *Lifecycle) hold() (release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == 0 {
		l.heldDone = make(chan struct{})
	}
	l.held++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.held--; l.held == 0 {
			close(l.heldDone)
		}
	}
}

// ready reports whether the process can serve: it is not shutting down and
// db, if any, answers within readyTimeout.
func (l *Lifecycle) ready(ctx context.Context, db Pinger) error {
	if l.shuttingDown.Load() {
		return billing.Errorf(billing.EUnavailable, "Shutting down")
	}
	if db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return &billing.Error{Code: billing.EUnavailable, Message: "Database unavailable", Err: err}
	}
	return nil
}
