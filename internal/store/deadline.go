package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/billingd/billingd/internal/billing"
)

// DefaultTimeout is the deadline of a statement or transaction when Options
// name none (DB_TIMEOUT's default).
const DefaultTimeout = 5 * time.Second

// statementKey holds a statement's deadline state between its callbacks.
const statementKey = "billingd:statement"

// statement is what before hands to after for one GORM statement.
type statement struct {
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	release func(answered bool) // hands on the writer's turn; nil when not held
}

// registerCallbacks makes every GORM statement go through p: outside a
// transaction a statement gets its own deadline, reads go to the read pool and
// writes wait in the write queue; inside one it gets the transaction's
// deadline. The store's methods reach the database through GORM only, so no
// statement escapes them.
func (p *pools) registerCallbacks(db *gorm.DB) error {
	const begin, end = "billingd:begin", "billingd:end"
	read, write := p.beginStatement(true), p.beginStatement(false)
	cb := db.Callback()
	err := errors.Join(
		cb.Query().Before("*").Register(begin, read),
		cb.Query().After("*").Register(end, p.endStatement(false)),
		// Row hands its rows to the caller open: their context must outlive the
		// callback, and its timer ends it at the deadline.
		cb.Row().Before("*").Register(begin, read),
		cb.Row().After("*").Register(end, p.endStatement(true)),
		cb.Create().Before("*").Register(begin, write),
		cb.Create().After("*").Register(end, p.endStatement(false)),
		cb.Update().Before("*").Register(begin, write),
		cb.Update().After("*").Register(end, p.endStatement(false)),
		cb.Delete().Before("*").Register(begin, write),
		cb.Delete().After("*").Register(end, p.endStatement(false)),
		cb.Raw().Before("*").Register(begin, write),
		cb.Raw().After("*").Register(end, p.endStatement(false)),
	)
	if err != nil {
		return fmt.Errorf("store: register callbacks: %w", err)
	}
	return nil
}

// beginStatement gives a statement its pool and its deadline; a write outside
// a transaction first waits for its turn, and its deadline starts then.
func (p *pools) beginStatement(read bool) func(*gorm.DB) {
	return func(db *gorm.DB) {
		stmt := db.Statement
		st := &statement{parent: stmt.Context}
		d, inTx := p.txDeadlines.Load(stmt.ConnPool)
		switch {
		case inTx:
		case read:
			stmt.ConnPool = p.readConn
		default:
			release, err := p.queue.acquire(stmt.Context)
			if err != nil {
				_ = db.AddError(fmt.Errorf("wait for the writer: %w", err))
				return
			}
			st.release = release
		}
		if inTx {
			st.ctx, st.cancel = p.inTxContext(stmt.Context, d.(time.Time))
		} else {
			st.ctx, st.cancel = context.WithTimeout(stmt.Context, p.timeout)
		}
		stmt.Context = st.ctx
		stmt.Settings.Store(statementKey, st)
	}
}

// inTxContext is the context of a statement of a transaction with deadline.
// On SQLite it drops ctx's cancellation: there an interrupted write can roll
// back the whole transaction, and with group commit (groupcommit.go) that
// holds other callers' work, so one client hanging up must not end it. The
// deadline still does.
func (p *pools) inTxContext(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if p.queue != nil {
		ctx = context.WithoutCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// endStatement undoes beginStatement, and turns a missed deadline into the
// domain's EUnavailable.
func (p *pools) endStatement(openRows bool) func(*gorm.DB) {
	return func(db *gorm.DB) {
		v, ok := db.Statement.Settings.LoadAndDelete(statementKey)
		if !ok {
			return
		}
		st := v.(*statement)
		if st.release != nil {
			st.release(!expired(st.ctx))
		}
		if db.Error != nil {
			db.Error = unavailableIfExpired(st.ctx, db.Error)
		}
		if !openRows {
			st.cancel()
		}
		db.Statement.Context = st.parent
	}
}

// unavailableIfExpired makes err the domain's EUnavailable when it came from
// ctx's deadline: the database did not answer in time, and the caller should
// retry later (a webhook gets a 5xx, so Stripe does).
func unavailableIfExpired(ctx context.Context, err error) error {
	if err == nil || !expired(ctx) || billing.ErrorCode(err) == billing.EUnavailable {
		return err
	}
	return &billing.Error{Code: billing.EUnavailable, Message: "Database unavailable", Err: err}
}

func expired(ctx context.Context) bool { return errors.Is(ctx.Err(), context.DeadlineExceeded) }
