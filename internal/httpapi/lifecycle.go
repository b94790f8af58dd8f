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
	drain        chan struct{}
	drainOnce    sync.Once
}

// NewLifecycle returns the state of a process that serves.
func NewLifecycle() *Lifecycle { return &Lifecycle{drain: make(chan struct{})} }

// BeginShutdown makes /readyz fail from now on: the process is about to stop,
// and load balancers should route new requests elsewhere while it still serves.
func (l *Lifecycle) BeginShutdown() { l.shuttingDown.Store(true) }

// Drain makes every long-poll, held now or later, answer at once with the
// current state: the process is shutting down and must not wait out the polls.
func (l *Lifecycle) Drain() { l.drainOnce.Do(func() { close(l.drain) }) }

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
