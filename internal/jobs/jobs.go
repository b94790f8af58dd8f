// Package jobs runs billingd's background work on River, a durable job queue
// in billingd's own database: the periodic reconcile with Stripe, the
// pruning of old event ids, and the delivery of billingd's own messages to
// webhook endpoints (SPEC §9).
//
// River elects one leader among the replicas that share a database, and only
// the leader schedules periodic jobs, so each runs on one replica at a time.
//
// Messages are queued by [Queue.InsertTx] in the transaction of the change
// they report, one delivery job per endpoint (the messages of one
// transaction share one, a batch: batch.go), so a delivery exists exactly
// when its change does. Any replica may work a delivery; River locks each
// job to one worker at a time, so it is delivered at least once per
// endpoint, and receivers dedupe on its message id, which every attempt
// keeps. A failing delivery is retried for at least 72 hours, then
// discarded (a "dead" delivery), which an operator can list
// ([Queue.DeadDeliveries]) and requeue ([Queue.RetryDelivery]). The package
// imports the domain's types, never the store: rendering and sending are
// funcs given in [Events], and only outbound's redaction of endpoint URLs is
// borrowed, for logs.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Dialects, as the store names them.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Work is what the periodic jobs do. A nil func is not scheduled.
type Work struct {
	// Reconcile heals billingd's state from Stripe's; it runs every
	// ReconcileInterval (0: never) and once when a leader is elected.
	Reconcile         func(ctx context.Context) error
	ReconcileInterval time.Duration
	// Prune deletes what is older than billingd keeps; it runs every PruneInterval.
	Prune         func(ctx context.Context) error
	PruneInterval time.Duration
}

// Config configures a Queue.
type Config struct {
	// DB is the pool billingd writes through; on SQLite it must be the
	// single-writer pool, so River's writes queue with billingd's own.
	DB      *sql.DB
	Dialect string // Postgres or SQLite
	Work    Work
	Logger  *slog.Logger
	// ID names this process among the replicas (River's client id); default: River's.
	ID string
	// Events configures message deliveries; the zero value turns them off.
	Events Events
}

// discardedRetention is how long River keeps a discarded job: a dead
// delivery can be listed and retried for 30 days, as long as Stripe keeps events.
const discardedRetention = 30 * 24 * time.Hour

// maxReconcileTime bounds one reconcile run; a longer one is cancelled and
// retried by the next schedule.
const maxReconcileTime = 10 * time.Minute

// Queue is billingd's River client.
type Queue struct {
	client  *river.Client[*sql.Tx]
	db      *sql.DB
	dialect string
	events  Events
}

// driverFor returns River's driver for the dialect over db.
func driverFor(db *sql.DB, dialect string) (riverdriver.Driver[*sql.Tx], error) {
	switch dialect {
	case Postgres:
		return riverdatabasesql.New(db), nil
	case SQLite:
		return riversqlite.New(db), nil
	default:
		return nil, fmt.Errorf("jobs: unsupported dialect %q", dialect)
	}
}

// migrationLockKey is the PostgreSQL advisory lock that serialises River's
// migrations across replicas starting at once (an arbitrary constant: "rivr").
const migrationLockKey = 0x72697672

// Migrate applies River's own migrations beside billingd's, safely when
// several replicas start at once. On PostgreSQL they take turns under a
// session advisory lock (River's migrations cannot share one transaction: one
// adds an enum value that a later one uses).
func Migrate(ctx context.Context, db *sql.DB, dialect string) error {
	driver, err := driverFor(db, dialect)
	if err != nil {
		return err
	}
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	if dialect == SQLite {
		return migrateSQLite(ctx, db, migrator)
	}
	unlock, err := advisoryLock(ctx, db, migrationLockKey)
	if err != nil {
		return fmt.Errorf("jobs: migration lock: %w", err)
	}
	defer unlock()
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: apply River migrations: %w", err)
	}
	return nil
}

// migrateSQLite applies every migration in one write transaction, which
// SQLite serialises against any other writer of the file.
func migrateSQLite(ctx context.Context, db *sql.DB, migrator *rivermigrate.Migrator[*sql.Tx]) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := migrator.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: apply River migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("jobs: apply River migrations: %w", err)
	}
	return nil
}

// advisoryLock holds a PostgreSQL session advisory lock on a connection of its
// own until unlock; closing that connection releases the lock even if the
// unlock statement fails.
func advisoryLock(ctx context.Context, db *sql.DB, key int64) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
		_ = conn.Close()
	}, nil
}

// New returns a Queue over cfg.DB, whose migrations must have been applied
// (Migrate). It does no work until Start.
func New(cfg Config) (*Queue, error) {
	driver, err := driverFor(cfg.DB, cfg.Dialect)
	if err != nil {
		return nil, err
	}
	if err := cfg.Events.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "jobs")
	events := cfg.Events
	events.Endpoints = slices.Clone(events.Endpoints)
	workers := river.NewWorkers()
	single := newDeliveryWorker(events, logger)
	river.AddWorker(workers, single)
	river.AddWorker(workers, &batchWorker{single: single, db: cfg.DB})
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}
	if events.Deliver != nil {
		queues[eventsQueue] = events.queueConfig()
	}
	var periodic []*river.PeriodicJob
	if w := cfg.Work; w.Reconcile != nil && w.ReconcileInterval > 0 {
		river.AddWorker(workers, &funcWorker[reconcileArgs]{work: w.Reconcile, timeout: min(w.ReconcileInterval, maxReconcileTime)})
		periodic = append(periodic, newPeriodic(reconcileArgs{}, w.ReconcileInterval))
	}
	if w := cfg.Work; w.Prune != nil && w.PruneInterval > 0 {
		river.AddWorker(workers, &funcWorker[pruneArgs]{work: w.Prune, timeout: time.Minute})
		periodic = append(periodic, newPeriodic(pruneArgs{}, w.PruneInterval))
	}
	rc := &river.Config{
		ID:           cfg.ID,
		Logger:       logger,
		PeriodicJobs: periodic,
		Queues:       queues,
		Workers:      workers,
		// A job left running by a crashed replica is retried once it is past
		// its own timeout and this long has passed (River's default, 1 h,
		// would hold a delivery that long).
		RescueStuckJobsAfter: time.Minute,
		// A dead delivery stays inspectable (and retryable) this long.
		DiscardedJobRetentionPeriod: discardedRetention,
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &Queue{client: client, db: cfg.DB, dialect: cfg.Dialect, events: events}, nil
}

// Start starts working and, on the elected leader, scheduling. It returns at
// once; Stop ends it.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop lets running jobs finish until ctx ends, then cancels them.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.client.StopAndCancel(context.Background())
	}
	return err
}

// newPeriodic schedules args every interval, and at once when this replica
// becomes leader. Unique by state, so a run that outlasts its interval is not
// doubled by the next one.
func newPeriodic(args river.JobArgs, interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return args, &river.InsertOpts{
				MaxAttempts: 1, // the next schedule is the retry
				UniqueOpts:  river.UniqueOpts{ByState: unfinishedStates},
			}
		},
		&river.PeriodicJobOpts{ID: args.Kind(), RunOnStart: true})
}

type reconcileArgs struct{}

func (reconcileArgs) Kind() string { return "reconcile" }

type pruneArgs struct{}

func (pruneArgs) Kind() string { return "prune_events" }

// funcWorker works jobs of kind T by calling work.
type funcWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	work    func(ctx context.Context) error
	timeout time.Duration
}

func (w *funcWorker[T]) Work(ctx context.Context, _ *river.Job[T]) error { return w.work(ctx) }

func (w *funcWorker[T]) Timeout(*river.Job[T]) time.Duration { return w.timeout }
