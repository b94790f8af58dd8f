// Package notify wakes long-polls when an org's entitlement changes. Local is the
// in-process implementation of billing.Notifier (one replica, or SQLite); a
// cross-replica one can wrap it. It must not import HTTP, GORM or Stripe code.
package notify

import (
	"context"
	"sync"

	"github.com/billingd/billingd/internal/billing"
)

// Local fans notifications out to subscribers in this process.
type Local struct {
	mu       sync.Mutex
	subs     map[string]map[*subscriber]struct{}
	onChange []func(orgID string)
}

// subscriber is one Subscribe or SubscribeFunc; its wake runs under Local's
// lock, so it must not block.
type subscriber struct{ wake func() }

var (
	_ billing.Notifier   = (*Local)(nil)
	_ billing.ChangeFeed = (*Local)(nil)
)

// OnChange implements billing.ChangeFeed: fn sees every Notify, and "" for
// every NotifyAll, before any waiter wakes, so a woken waiter never re-reads
// what fn was told to drop.
func (l *Local) OnChange(fn func(orgID string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onChange = append(l.onChange, fn)
}

// NewLocal returns an in-process notifier.
func NewLocal() *Local { return &Local{subs: map[string]map[*subscriber]struct{}{}} }

// Subscribe returns a channel that receives after Notify(orgID). Notifications
// coalesce: a subscriber that has not yet drained one misses nothing, because it
// re-reads the state after waking.
func (l *Local) Subscribe(orgID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	return ch, l.SubscribeFunc(orgID, func() {
		select {
		case ch <- struct{}{}:
		default: // one already signalled stays so
		}
	})
}

// SubscribeFunc implements billing.Notifier: wake is called after each
// Notify(orgID), with the notifier's lock held, until the returned func is
// called.
func (l *Local) SubscribeFunc(orgID string, wake func()) (unsubscribe func()) {
	sub := &subscriber{wake: wake}
	l.mu.Lock()
	if l.subs[orgID] == nil {
		l.subs[orgID] = map[*subscriber]struct{}{}
	}
	l.subs[orgID][sub] = struct{}{}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs[orgID], sub)
		if len(l.subs[orgID]) == 0 {
			delete(l.subs, orgID)
		}
		l.mu.Unlock()
	}
}

// Notify wakes every subscriber of orgID without blocking.
func (l *Local) Notify(_ context.Context, orgID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fn := range l.onChange {
		fn(orgID)
	}
	wake(l.subs[orgID])
}

// NotifyAll wakes every subscriber of every org: used when notifications may
// have been missed, so that each waiter re-reads its state.
func (l *Local) NotifyAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fn := range l.onChange {
		fn("")
	}
	for _, subs := range l.subs {
		wake(subs)
	}
}

// wake wakes each subscriber.
func wake(subs map[*subscriber]struct{}) {
	for sub := range subs {
		sub.wake()
	}
}

// Waiters returns how many subscribers are waiting, across all orgs.
func (l *Local) Waiters() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.subs {
		n += len(m)
	}
	return n
}
