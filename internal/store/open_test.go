package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver, to read goose's version table

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

func TestOpen(t *testing.T) {
	t.Run("RejectsUnknownURLWithoutEchoingIt", func(t *testing.T) {
		for _, u := range []string{"mysql://user:s3cret@db/billing", "sqlite:", "s3cret", "postgres://user:s3cret@"} {
			_, err := store.ParseURL(u)
			if err == nil || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseURL(%q): err = %v, want an error that does not repeat the URL", u, err)
			}
		}
	})
	t.Run("RejectsZeroLocation", func(t *testing.T) {
		if _, err := store.Open(t.Context(), store.Location{}, store.Options{}); err == nil {
			t.Fatal("Open of the zero Location succeeded")
		}
	})
	t.Run("MemoryDatabasesArePrivate", func(t *testing.T) {
		a, b := storetest.OpenSQLite(t), storetest.OpenSQLite(t)
		if _, err := a.EnsureOrganization(t.Context(), billing.Organization{ID: "org_1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Organization(t.Context(), "org_1"); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("second in-memory store sees the first one's org: err = %v", err)
		}
	})
	t.Run("SQLiteFile/PersistsAcrossOpens", func(t *testing.T) {
		url := "sqlite:" + filepath.Join(t.TempDir(), "billing.db")
		s := mustOpen(t, url)
		if _, err := s.EnsureOrganization(t.Context(), billing.Organization{ID: "org_1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = mustOpen(t, url)
		defer s.Close()
		if _, err := s.Organization(t.Context(), "org_1"); err != nil {
			t.Fatalf("after reopening: %v", err)
		}
	})
	t.Run("SQLiteFile/ConcurrentWritersQueue", func(t *testing.T) {
		// Webhook transactions on one SQLite file must wait for each other, not
		// fail with SQLITE_BUSY.
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = s.InTx(t.Context(), func(tx billing.Store) error {
					if _, err := tx.Entitlement(t.Context(), "org_1"); err != nil && !errors.Is(err, billing.ErrNotFound) {
						return err
					}
					if err := tx.SaveEntitlement(t.Context(), billing.Entitlement{OrgID: "org_1", SubscriptionPlan: "pro", Status: billing.StatusActive, Seats: i}); err != nil {
						return err
					}
					return tx.RecordEvent(t.Context(), billing.EventRecord{ID: "evt_shared", Type: "t", Outcome: billing.OutcomeApplied})
				})
			})
		}
		wg.Wait()
		succeeded := 0
		for i, err := range errs {
			switch {
			case err == nil:
				succeeded++
			case !errors.Is(err, billing.ErrDuplicateEvent):
				t.Errorf("transaction %d: %v", i, err)
			}
		}
		if succeeded != 1 {
			t.Errorf("%d transactions succeeded, want 1", succeeded)
		}
	})
	t.Run("Postgres/ReopenIsNoOp", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		s := mustOpen(t, url)
		if _, err := s.EnsureOrganization(t.Context(), billing.Organization{ID: "org_1"}); err != nil {
			t.Fatal(err)
		}
		versions := appliedVersions(t, url)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = mustOpen(t, url)
		defer s.Close()
		if _, err := s.Organization(t.Context(), "org_1"); err != nil {
			t.Fatalf("after reopening: %v", err)
		}
		if again := appliedVersions(t, url); again != versions {
			t.Fatalf("reopening changed the migration history: %q, then %q", versions, again)
		}
	})
	t.Run("Postgres/ConcurrentOpensOnEmptyDatabase", func(t *testing.T) {
		// Replicas starting at once: one applies the migrations, the others
		// wait for its lock and find nothing left to do.
		url := storetest.PostgresURL(t)
		const n = 3
		stores := make([]*store.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = store.Open(t.Context(), mustParse(t, url), store.Options{}) })
		}
		wg.Wait()
		for i, s := range stores {
			if errs[i] != nil {
				t.Errorf("open %d: %v", i, errs[i])
				continue
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("ping %d: %v", i, err)
			}
			s.Close()
		}
		if v, want := appliedVersions(t, url), shippedVersions(t); v != want {
			t.Fatalf("applied migrations %q, want each version once (%s)", v, want)
		}
	})
}

func mustOpen(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), mustParse(t, url), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustParse(t *testing.T, url string) store.Location {
	t.Helper()
	loc, err := store.ParseURL(url)
	if err != nil {
		t.Fatalf("DATABASE_URL %v", err)
	}
	return loc
}

// shippedVersions lists goose's versions after migrating an empty database:
// its own 0, then each PostgreSQL migration in the tree, comma-separated.
func shippedVersions(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "postgres", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no PostgreSQL migrations found (err %v)", err)
	}
	versions := []string{"0"}
	for _, f := range files { // Glob sorts, and versions are zero-padded
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: version: %v", f, err)
		}
		versions = append(versions, strconv.Itoa(n))
	}
	return strings.Join(versions, ",")
}

// appliedVersions lists goose's applied versions, in order, comma-separated.
func appliedVersions(t *testing.T, url string) string {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var versions string
	err = db.QueryRowContext(context.Background(),
		`SELECT string_agg(version_id::text, ',' ORDER BY id) FROM goose_db_version WHERE is_applied`).Scan(&versions)
	if err != nil {
		t.Fatal(err)
	}
	return versions
}
