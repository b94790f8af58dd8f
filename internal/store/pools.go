package store

import (
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// PostgreSQL pool sizes, per replica. Writes (webhook and checkout
// transactions, a few milliseconds each) and reads outside a transaction
// (entitlement, checkout and payment reads) have pools of their own, so that
// a webhook burst queues for writer connections while reads go on. Ten write
// connections carry thousands of short transactions a second; ten read ones
// serve what the entitlement cache misses (long-polls hold none while they
// wait). Together they stay at the 20 a replica used before the split, so the
// server's max_connections budget is unchanged. As many may idle as may open:
// with fewer, a steady load above the idle count closes and reopens
// connections all the time (make bench: 6.5k → 9.1k entitlement reads/s).
const (
	postgresWriteConns  = 10
	postgresReadConns   = 10
	postgresConnMaxIdle = 5 * time.Minute
)

// sqliteReadConns is the SQLite read pool's size. Reads run in this process,
// on WAL snapshots beside the single writer, and cost CPU, not connections:
// twice the CPUs (at least 8) keeps them all busy, also while some wait on
// the disk, and keeps a burst of polls sharing the CPU rather than queueing
// for a connection (database/sql serves its waiters in random order, which a
// deadline sees as a long tail). Each connection keeps its own page cache
// (2 MB by default), which bounds the count from above.
func sqliteReadConns() int { return max(8, 2*runtime.GOMAXPROCS(0)) }

// pools are a Store's connections: one pool for writes and transactions, one
// for reads outside a transaction, and on SQLite the queue writers wait in.
// They are shared by a Store and every transaction-bound Store made from it.
type pools struct {
	dialect string
	writer  *sql.DB
	reader  *sql.DB // the writer itself for sqlite::memory:
	// readConn is what reads outside a transaction run on: reader, through
	// GORM's statement cache on SQLite (see sqliteStatementCacheSize).
	readConn gorm.ConnPool
	// queue lets one SQLite writer in at a time, in order; nil on
	// PostgreSQL, which has row locks.
	queue   *writeQueue
	timeout time.Duration
	// txDeadlines holds each open transaction's deadline, for its statements,
	// by the transaction's gorm.ConnPool.
	txDeadlines sync.Map // gorm.ConnPool → time.Time
}

// SQLite statement cache: parsing SQL is a good part of what a SQLite
// statement costs in this process (pure Go), and the single writer's time is
// what every other writer waits for. PostgreSQL needs none: pgx caches
// prepared statements itself.
const (
	sqliteStatementCacheSize = 256
	sqliteStatementCacheTTL  = time.Hour
)

// openPools connects to loc; statements and transactions get timeout as their
// deadline. It never puts the URL in an error: it may contain a password.
func openPools(loc Location, timeout time.Duration) (*pools, gorm.Dialector, goose.Dialect, error) {
	p := &pools{dialect: loc.Dialect(), timeout: timeout}
	switch loc.Dialect() {
	case DialectPostgres:
		cfg, err := pgx.ParseConfig(loc.PostgresURL())
		if err != nil {
			return nil, nil, "", errors.New("store: postgres: cannot parse the database URL")
		}
		if cfg.ConnectTimeout == 0 {
			// A new connection to a database that does not answer fails with the
			// deadline too, even when database/sql dials in the background.
			cfg.ConnectTimeout = timeout
		}
		p.writer = stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(encodePQArraysNatively))
		readCfg := cfg.Copy()
		// A write sent to the read pool by mistake fails instead of slipping by.
		readCfg.RuntimeParams["default_transaction_read_only"] = "on"
		p.reader = stdlib.OpenDB(*readCfg, stdlib.OptionAfterConnect(encodePQArraysNatively))
		for db, n := range map[*sql.DB]int{p.writer: postgresWriteConns, p.reader: postgresReadConns} {
			db.SetMaxOpenConns(n)
			db.SetMaxIdleConns(n)
			db.SetConnMaxIdleTime(postgresConnMaxIdle)
		}
		p.readConn = p.reader
		return p, postgres.New(postgres.Config{Conn: p.writer}), goose.DialectPostgres, nil
	case DialectSQLite:
		p.queue = newWriteQueue(timeout)
		memory := loc.memory()
		w, err := sql.Open(sqlite.DriverName, sqliteDSN(loc.SQLitePath(), timeout, sqliteWriter(memory)))
		if err != nil {
			return nil, nil, "", fmt.Errorf("store: open sqlite database: %w", err)
		}
		// One connection, never recycled: SQLite takes one writer at a time,
		// and an in-memory database lives and dies with its connection.
		keepOpen(w, 1)
		p.writer, p.reader = w, w
		if !memory {
			r, err := sql.Open(sqlite.DriverName, sqliteDSN(loc.SQLitePath(), timeout, sqliteReader))
			if err != nil {
				return nil, nil, "", errors.Join(fmt.Errorf("store: open sqlite database: %w", err), w.Close())
			}
			keepOpen(r, sqliteReadConns())
			p.reader = r
			p.readConn = gorm.NewPreparedStmtDB(r, sqliteStatementCacheSize, sqliteStatementCacheTTL)
		}
		return p, &sqlite.Dialector{Conn: p.writer}, goose.DialectSQLite3, nil
	default:
		return nil, nil, "", errors.New("store: no database location: use ParseURL")
	}
}

func keepOpen(db *sql.DB, n int) {
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

func (p *pools) close() error {
	err := p.writer.Close()
	if p.reader != p.writer {
		err = errors.Join(err, p.reader.Close())
	}
	return err
}

// sqliteReader is the pragmas of a read connection: it never writes, so it
// never takes the write lock (and a misrouted write fails).
var sqliteReader = []string{"query_only(1)"}

// sqliteWriter is the pragmas of the write connection. WAL lets readers run
// while it commits; its transactions take the write lock when they begin
// (IMMEDIATE), so that another process writing the file (billingd reconcile)
// makes it wait on busy_timeout rather than fail when a read lock cannot be
// upgraded. synchronous stays FULL, SQLite's default: a commit waits for the
// disk (see groupcommit.go).
//
// temp_store(MEMORY) keeps the statement journals of the group commit's
// savepoints (the pages a savepoint would roll back) in memory rather than in
// temporary files: a page write system call each otherwise. They serve only
// rolling back within an open transaction, never crash recovery.
func sqliteWriter(memory bool) []string {
	if memory {
		return []string{"foreign_keys(1)", "temp_store(MEMORY)"}
	}
	return []string{"foreign_keys(1)", "journal_mode(WAL)", "temp_store(MEMORY)"}
}

// sqliteDSN adds pragmas to a SQLite path. busy_timeout, how long SQLite waits
// for a lock another process holds, is the deadline.
func sqliteDSN(path string, timeout time.Duration, pragmas []string) string {
	params := []string{fmt.Sprintf("_pragma=busy_timeout(%d)", timeout.Milliseconds())}
	for _, p := range pragmas {
		params = append(params, "_pragma="+p)
	}
	if path != memoryPath {
		params = append(params, "_txlock=immediate")
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + strings.Join(params, "&")
}
