package jobs_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/billingd/billingd/internal/jobs"
	"github.com/billingd/billingd/internal/store/storetest"
)

// database is a fresh database of one dialect, as billingd's write pool sees it.
type database struct {
	dialect string
	open    func(t *testing.T) *sql.DB // each call: another process's pool on the same database
}

func databases(t *testing.T) []database {
	dir := t.TempDir()
	pgURL := ""
	return []database{
		{jobs.SQLite, func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", filepath.Join(dir, "jobs.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1) // billingd's SQLite writer is one connection
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{jobs.Postgres, func(t *testing.T) *sql.DB {
			if pgURL == "" {
				pgURL = storetest.PostgresURL(t)
			}
			db, err := sql.Open("pgx", pgURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
	}
}

func forEachDialect(t *testing.T, fn func(t *testing.T, db database)) {
	for _, db := range databases(t) {
		t.Run(db.dialect, func(t *testing.T) { fn(t, db) })
	}
}

// TestMigrate_ReplicasAtOnce: replicas starting together all get River's
// schema, none fails on another's half-applied migration, and a rerun is a no-op.
func TestMigrate_ReplicasAtOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			db := d.open(t)
			wg.Go(func() { errs[i] = jobs.Migrate(ctx, db, d.dialect) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
		db := d.open(t)
		if err := jobs.Migrate(ctx, db, d.dialect); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&n); err != nil {
			t.Fatalf("River's job table after migrating: %v", err)
		}
	})
}

// TestPeriodic_OneReplicaRuns: of three replicas on one database, exactly
// one runs the reconcile that each of them schedules on start.
func TestPeriodic_OneReplicaRuns(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d.open(t), d.dialect); err != nil {
			t.Fatal(err)
		}
		var runs [3]atomic.Int32
		for i := range runs {
			q, err := jobs.New(jobs.Config{
				DB: d.open(t), Dialect: d.dialect, ID: "replica" + string(rune('a'+i)),
				Work: jobs.Work{
					Reconcile: func(context.Context) error {
						runs[i].Add(1)
						return nil
					},
					ReconcileInterval: time.Hour,
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := q.Stop(ctx); err != nil {
					t.Errorf("stop: %v", err)
				}
			})
		}
		total := func() (n int32) {
			for i := range runs {
				n += runs[i].Load()
			}
			return n
		}
		deadline := time.Now().Add(30 * time.Second)
		for total() == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		// Give the other replicas time to run a second one, if they would.
		time.Sleep(3 * time.Second)
		if n := total(); n != 1 {
			t.Fatalf("reconcile ran %d times across three replicas (%d, %d, %d), want once",
				n, runs[0].Load(), runs[1].Load(), runs[2].Load())
		}
	})
}

// TestPeriodic_Repeats: the schedule runs the work again each interval, and a
// failed run does not stop the next.
func TestPeriodic_Repeats(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database) {
		ctx := context.Background()
		db := d.open(t)
		if err := jobs.Migrate(ctx, db, d.dialect); err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int32
		q, err := jobs.New(jobs.Config{DB: db, Dialect: d.dialect, Work: jobs.Work{
			Prune: func(context.Context) error {
				if runs.Add(1) == 1 {
					return context.DeadlineExceeded // a failed first run
				}
				return nil
			},
			PruneInterval: time.Second,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := q.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}()
		deadline := time.Now().Add(30 * time.Second)
		for runs.Load() < 3 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runs.Load(); n < 3 {
			t.Fatalf("prune ran %d times in 30 s at a 1 s interval, want at least 3", n)
		}
	})
}
