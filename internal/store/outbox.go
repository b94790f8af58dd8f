package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/billingd/billingd/internal/billing"
)

// Outbox puts messages on a durable job queue in the caller's transaction:
// the transactional outbox. The queue's tables live in this database, so a
// message commits, or rolls back, with the change it reports.
type Outbox interface {
	InsertTx(ctx context.Context, tx *sql.Tx, msgs []billing.Message) error
}

// SetOutbox makes Enqueue insert through o. It must be called before the
// Store is used; without an outbox Enqueue fails, so that no change is ever
// stored while its message is silently lost.
func (s *Store) SetOutbox(o Outbox) { s.outbox = o }

// Enqueue implements billing.Store, inside InTx only: a message belongs with
// the change it reports.
func (s *Store) Enqueue(ctx context.Context, msgs ...billing.Message) error {
	switch {
	case len(msgs) == 0:
		return nil
	case s.outbox == nil:
		return errors.New("store: enqueue: no outbox is set")
	case !s.inTx:
		return errors.New("store: enqueue outside a transaction")
	}
	tx, err := sqlTx(s.db)
	if err != nil {
		return err
	}
	// The outbox writes on the raw transaction, past the statement
	// callbacks: it gets the transaction's deadline here.
	deadline, ok := s.pools.txDeadlines.Load(s.db.Statement.ConnPool)
	if !ok {
		return errors.New("store: enqueue: the transaction has no deadline")
	}
	ctx, cancel := s.pools.inTxContext(ctx, deadline.(time.Time))
	defer cancel()
	if err := s.outbox.InsertTx(ctx, tx, msgs); err != nil {
		return unavailableIfExpired(ctx, fmt.Errorf("store: enqueue: %w", err))
	}
	return nil
}

// sqlTx is the database/sql transaction under a GORM transaction, also when
// GORM caches prepared statements (SQLite files).
func sqlTx(db *gorm.DB) (*sql.Tx, error) {
	switch pool := db.Statement.ConnPool.(type) {
	case *sql.Tx:
		return pool, nil
	case *gorm.PreparedStmtTX:
		if tx, ok := pool.Tx.(*sql.Tx); ok {
			return tx, nil
		}
	}
	return nil, fmt.Errorf("store: enqueue: transaction is a %T, not a *sql.Tx", db.Statement.ConnPool)
}
