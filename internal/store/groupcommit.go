package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/billingd/billingd/internal/billing"
)

// Group commit on SQLite. Its one writer runs transactions one after another,
// and each commit waits for the disk (synchronous=FULL: a committed webhook
// survives a power cut). So the writer holding the turn runs the
// transactions waiting behind it inside its own, each in a savepoint, and
// commits them together: one wait for the disk for the batch. Each one keeps
// its own outcome: one that fails is rolled back to its savepoint and gets
// its error; the others commit. None is told it committed before the commit
// is on disk, and a failed commit fails them all. Order and isolation stay
// those of the queue: each runs after the ones before it, and sees their
// writes, as it would have after their commits.
//
// A writer alone runs a plain transaction, as without batching; batches form
// only while writers queue.
const (
	// maxBatch bounds the transactions one commit carries, and so how long
	// the first of them waits for the others.
	maxBatch = 32
)

// batchJob is a transaction waiting for the writer, as InTx was given it.
type batchJob struct {
	ctx    context.Context
	fn     func(tx billing.Store) error
	outbox Outbox
	done   chan error // buffered: the result, sent once
	taken  bool       // guarded by writeQueue.mu: a batch runs it
	result error      // what fn returned in the batch, sent once it committed
}

// panicked carries a panic from a job a batch ran to the job's own caller,
// which panics with it.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("store: transaction panicked: %v", p.value) }

// inBatch is InTx on SQLite: it waits for the writer, and either a batch
// runs fn or this writer leads one.
func (s *Store) inBatch(ctx context.Context, fn func(tx billing.Store) error) error {
	job := &batchJob{ctx: ctx, fn: fn, outbox: s.outbox, done: make(chan error, 1)}
	release, err := s.pools.queue.join(ctx, job)
	if release == nil {
		if p, ok := err.(panicked); ok {
			panic(p.value)
		}
		return err
	}
	deadline := time.Now().Add(s.pools.timeout)
	// The transaction must outlive its leader's request: once others join
	// it, a client hanging up must not roll back their work. The deadline
	// still ends it.
	txCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	defer func() { release(!expired(txCtx)) }()

	var joined []*batchJob
	err = s.db.WithContext(txCtx).Transaction(func(tx *gorm.DB) error {
		s.pools.txDeadlines.Store(tx.Statement.ConnPool, deadline)
		defer s.pools.txDeadlines.Delete(tx.Statement.ConnPool)
		// The leader's own work needs no savepoint: nothing else is in the
		// transaction yet, so its failure rolls back just that.
		if err := fn(&Store{db: tx, inTx: true, pools: s.pools, outbox: s.outbox}); err != nil {
			return err
		}
		for len(joined) < maxBatch-1 && time.Until(deadline) > s.pools.timeout/2 {
			next := s.pools.queue.take(maxBatch - 1 - len(joined))
			if len(next) == 0 {
				break
			}
			// Joined before any runs: each taken job must hear the outcome.
			joined = append(joined, next...)
			for i, job := range next {
				var fatal error
				if job.result, fatal = s.runInSavepoint(tx, job, len(joined)-len(next)+i); fatal != nil {
					return fatal
				}
			}
		}
		return nil
	})
	err = unavailableIfExpired(txCtx, err)
	for _, job := range joined {
		if err != nil {
			job.done <- err // the commit failed: nothing of the batch is stored
			continue
		}
		job.done <- job.result
	}
	return err
}

// runInSavepoint runs a joined job inside tx and returns its result,
// rolling its writes back to a savepoint when it fails or panics. fatal is
// set when that rollback failed: the batch must not commit then. (A job's
// client hanging up does not interrupt its statements: see inTxContext.)
func (s *Store) runInSavepoint(tx *gorm.DB, job *batchJob, n int) (result, fatal error) {
	name := "batch_" + strconv.Itoa(n)
	// Through Exec, not GORM's SavePoint: that one bypasses the statement
	// cache's transaction, which the deadline callbacks would not know.
	if err := tx.Exec("SAVEPOINT " + name).Error; err != nil {
		return nil, dbError("savepoint", err)
	}
	defer func() {
		if p := recover(); p != nil {
			result = panicked{value: p}
		}
		if result != nil {
			if err := tx.Exec("ROLLBACK TO " + name).Error; err != nil {
				fatal = dbError("roll back to savepoint", err)
			}
		}
	}()
	return job.fn(&Store{db: tx, inTx: true, pools: s.pools, outbox: job.outbox}), nil
}
