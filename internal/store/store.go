package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/billingd/billingd/internal/billing"
)

var _ billing.Store = (*Store)(nil)

// Store is billing.Store on one database. A Store returned by Open is safe for
// concurrent use; the Store handed to an InTx callback is bound to that
// transaction and must not outlive it.
//
// Writes and transactions use the write pool, reads outside a transaction the
// read pool (see pools). On SQLite writers queue in the process, first come
// first served, for a single connection whose transactions BEGIN IMMEDIATE,
// and readers read WAL snapshots beside them: no call ever fails with
// "database is locked". Every statement and transaction has a deadline
// (Options.Timeout); one that misses it fails with billing's EUnavailable.
type Store struct {
	db     *gorm.DB
	inTx   bool
	pools  *pools
	outbox Outbox
}

// Options configure a Store.
type Options struct {
	// Timeout is the deadline of each transaction and of each statement
	// outside one (DB_TIMEOUT; default DefaultTimeout). On SQLite it starts
	// when the writer's turn comes; a writer still waiting gives up once the
	// writers ahead have had no answer from the database for as long.
	Timeout time.Duration
}

// Open connects to loc, applies the embedded migrations and returns the store.
func Open(ctx context.Context, loc Location, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	p, dialector, dialect, err := openPools(loc, opts.Timeout)
	if err != nil {
		return nil, err
	}
	// SQLite files only: on sqlite::memory: reads share the transaction's one
	// connection, and GORM's statement cache would deadlock there (a read
	// preparing on the pool waits for the connection, while the transaction
	// waits for that read's prepare of the same statement).
	cacheStatements := loc.Dialect() == DialectSQLite && !loc.memory()
	db, err := gorm.Open(dialector, &gorm.Config{
		// Never log SQL: statements carry customer data in their values.
		Logger:         logger.Discard,
		TranslateError: true,
		// Single statements need no implicit transaction; InTx makes the explicit ones.
		SkipDefaultTransaction: true,
		NowFunc:                now,
		// SQLite only: see sqliteStatementCacheSize.
		PrepareStmt:        cacheStatements,
		PrepareStmtMaxSize: sqliteStatementCacheSize,
		PrepareStmtTTL:     sqliteStatementCacheTTL,
	})
	if err == nil {
		if p.readConn == nil { // sqlite::memory: reads on the writer
			p.readConn = db.ConnPool
		}
		err = p.registerCallbacks(db)
	}
	if err == nil {
		err = migrate(ctx, p.writer, dialect)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: open %s database: %w", loc.Dialect(), err), p.close())
	}
	return &Store{db: db, pools: p}, nil
}

// WriterDB is the pool write transactions use, for a job queue that must
// share the database's writer: on SQLite it is the single write connection,
// so the queue's writes wait their turn like the store's own (outside the
// store's FIFO queue, in database/sql's).
func (s *Store) WriterDB() *sql.DB { return s.pools.writer }

// ReaderDB is the pool reads outside a transaction use; on sqlite::memory:
// it is WriterDB. Like WriterDB it is for metrics and the job queue: queries
// of billingd's own go through the Store's methods.
func (s *Store) ReaderDB() *sql.DB { return s.pools.reader }

// Dialect is DialectPostgres or DialectSQLite.
func (s *Store) Dialect() string { return s.pools.dialect }

// now is the store's clock: UTC at the precision every supported database keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Close closes the database. Only a Store returned by Open may be closed.
func (s *Store) Close() error {
	if s.inTx {
		return errors.New("store: Close called on a transaction-bound store")
	}
	return s.pools.close()
}

// InTx runs fn on a Store bound to one transaction, committing when fn returns
// nil and rolling back on an error or panic. Inside a transaction it reuses that
// transaction (no savepoint): an error from a nested fn rolls back the whole
// outer transaction once it reaches the outermost InTx.
//
// The transaction has the store's deadline (on SQLite, from when its turn to
// write comes); past it, it is rolled back and the error is billing's
// EUnavailable. fn must use only the Store it is given: on SQLite the
// transaction holds the writer's turn, so a write on the outer Store would
// wait for it until it gives up.
func (s *Store) InTx(ctx context.Context, fn func(tx billing.Store) error) error {
	if s.inTx {
		return fn(s)
	}
	if s.pools.queue != nil { // SQLite: one writer, in turn
		return s.inBatch(ctx, fn)
	}
	deadline := time.Now().Add(s.pools.timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		s.pools.txDeadlines.Store(tx.Statement.ConnPool, deadline)
		defer s.pools.txDeadlines.Delete(tx.Statement.ConnPool)
		return fn(&Store{db: tx, inTx: true, pools: s.pools, outbox: s.outbox})
	})
	return unavailableIfExpired(ctx, err)
}

// Ping checks that the database answers a query on the read pool: readiness
// must not fail because writers are busy.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.pools.timeout)
	defer cancel()
	var one int
	if err := s.pools.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return unavailableIfExpired(ctx, fmt.Errorf("store: ping: %w", err))
	}
	return nil
}
