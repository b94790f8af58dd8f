package store

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// writeQueue admits one SQLite writer at a time, first come first served
// (database/sql hands a freed connection to a random waiter instead).
//
// Waiting in it is queueing, not the database hanging: a transaction's
// deadline starts when it gets its turn. A waiter gives up on ctx, or when no
// writer has got an answer from the database for stall (DB_TIMEOUT): then the
// one holding the turn is stuck, and so would everyone behind it be. A busy
// queue keeps its order; a hung database gives every waiter a fast 503.
type writeQueue struct {
	stall time.Duration

	mu       sync.Mutex
	held     bool
	waiters  list.List // of chan struct{}, closed to hand that waiter the turn
	answered time.Time // when a writer last got an answer from the database
}

func newWriteQueue(stall time.Duration) *writeQueue {
	return &writeQueue{stall: stall, answered: time.Now()}
}

// errWriterStalled is a write given up on because the writer ahead is stuck.
var errWriterStalled = errors.New("store: the writer ahead has had no answer from the database")

// acquire waits for the turn; release hands it on and must be called exactly
// once, with whether the database answered (no deadline was missed). A nil
// queue (PostgreSQL, which has row locks) admits everyone at once.
func (q *writeQueue) acquire(ctx context.Context) (release func(answered bool), err error) {
	if q == nil {
		return func(bool) {}, nil
	}
	q.mu.Lock()
	if !q.held {
		q.held = true
		q.mu.Unlock()
		return q.release, nil
	}
	turn := make(chan struct{})
	me := q.waiters.PushBack(turn)
	q.mu.Unlock()

	check := time.NewTimer(q.stall)
	defer check.Stop()
	for err == nil {
		select {
		case <-turn:
			return q.release, nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-check.C:
			q.mu.Lock()
			silent := time.Since(q.answered)
			q.mu.Unlock()
			if silent < q.stall {
				check.Reset(q.stall - silent)
				continue
			}
			err = &billing.Error{Code: billing.EUnavailable, Message: "Database unavailable", Err: errWriterStalled}
		}
	}
	q.mu.Lock()
	select {
	case <-turn: // handed the turn while giving up: pass it on
		q.mu.Unlock()
		q.release(false)
	default:
		q.waiters.Remove(me)
		q.mu.Unlock()
	}
	return nil, err
}

func (q *writeQueue) release(answered bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if answered {
		q.answered = time.Now()
	}
	if next := q.waiters.Front(); next != nil {
		close(q.waiters.Remove(next).(chan struct{}))
		return
	}
	q.held = false
}
