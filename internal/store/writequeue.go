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
	waiters  list.List // of *waiter
	answered time.Time // when a writer last got an answer from the database
}

// waiter is one writer in line. turn is closed to hand it the turn. A
// transaction also carries its job, which the writer holding the turn may
// take into its own transaction instead (see groupcommit.go).
type waiter struct {
	turn chan struct{}
	job  *batchJob // nil: a single statement, which waits for its own turn
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
	return q.wait(ctx, nil)
}

// join waits like acquire with a transaction's job, which the writer holding
// the turn may take into its batch. It returns release when the turn came
// (the caller then runs job itself, and may lead a batch), or else nil and
// the job's result: what job.fn returned once its batch committed, or why
// it did not run.
func (q *writeQueue) join(ctx context.Context, job *batchJob) (release func(answered bool), err error) {
	return q.wait(ctx, job)
}

func (q *writeQueue) wait(ctx context.Context, job *batchJob) (release func(answered bool), err error) {
	if q == nil {
		return func(bool) {}, nil
	}
	q.mu.Lock()
	if !q.held {
		q.held = true
		q.mu.Unlock()
		return q.release, nil
	}
	w := &waiter{turn: make(chan struct{}), job: job}
	me := q.waiters.PushBack(w)
	q.mu.Unlock()
	var done <-chan error // a job's result; never ready for a single statement
	if job != nil {
		done = job.done
	}

	check := time.NewTimer(q.stall)
	defer check.Stop()
	for err == nil {
		select {
		case <-w.turn:
			return q.release, nil
		case err := <-done:
			return nil, err
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
	case <-w.turn: // handed the turn while giving up: pass it on
		q.mu.Unlock()
		q.release(false)
	default:
		if job != nil && job.taken {
			// A batch is running it: its writes may be in, so only the
			// batch's outcome can say whether they stay.
			q.mu.Unlock()
			return nil, <-done
		}
		q.waiters.Remove(me)
		q.mu.Unlock()
	}
	return nil, err
}

// take removes up to max jobs from the front of the line for the holder of
// the turn to run in its transaction. It stops at the first single
// statement, which keeps its place, so that no writer is overtaken.
func (q *writeQueue) take(max int) []*batchJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	var jobs []*batchJob
	for len(jobs) < max {
		front := q.waiters.Front()
		if front == nil || front.Value.(*waiter).job == nil {
			break
		}
		job := q.waiters.Remove(front).(*waiter).job
		job.taken = true
		jobs = append(jobs, job)
	}
	return jobs
}

func (q *writeQueue) release(answered bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if answered {
		q.answered = time.Now()
	}
	if next := q.waiters.Front(); next != nil {
		close(q.waiters.Remove(next).(*waiter).turn)
		return
	}
	q.held = false
}
