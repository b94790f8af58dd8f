// Package storetest gives tests fresh, migrated billingd databases: a private
// in-memory SQLite one, and a PostgreSQL one created for the test and dropped
// when it ends.
//
// PostgreSQL is reached through the admin URL in TEST_DATABASE_URL (default
// DefaultPostgresURL). When it is unreachable, tests are skipped on a developer
// machine and fail when CI is set, so that CI can never pass without it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for admin statements

	"github.com/billingd/billingd/internal/store"
)

// DefaultPostgresURL is the admin URL used when TEST_DATABASE_URL is unset. The
// user must be allowed to create and drop databases.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ForEachDB runs fn as the subtests "sqlite" and "postgres", each with a store
// on a fresh, migrated database of that kind.
func ForEachDB(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, OpenPostgres(t)) })
}

// OpenSQLite returns a store on a private in-memory SQLite database, closed
// when the test ends.
func OpenSQLite(tb testing.TB) *store.Store {
	tb.Helper()
	return MustOpen(tb, "sqlite::memory:")
}

// OpenPostgres returns a store on a fresh, migrated PostgreSQL database that is
// dropped when the test ends.
func OpenPostgres(tb testing.TB) *store.Store {
	tb.Helper()
	return MustOpen(tb, PostgresURL(tb))
}

// Timeout is the deadline of the stores MustOpen returns: longer than
// production's, so that a test's burst of transactions on a loaded CI machine
// does not miss it. Tests of the deadline set their own with MustOpenWith.
const Timeout = 30 * time.Second

// MustOpen opens a store on databaseURL (running migrations) and closes it when
// the test ends.
func MustOpen(tb testing.TB, databaseURL string) *store.Store {
	tb.Helper()
	return MustOpenWith(tb, databaseURL, store.Options{Timeout: Timeout})
}

// MustOpenWith is MustOpen with options.
func MustOpenWith(tb testing.TB, databaseURL string, opts store.Options) *store.Store {
	tb.Helper()
	loc, err := store.ParseURL(databaseURL)
	if err != nil {
		tb.Fatalf("DATABASE_URL %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, loc, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	recordMessages(tb, s)
	return s
}

// PostgresURL creates a fresh, empty PostgreSQL database and returns its URL.
// The database is dropped when the test ends, after the cleanups registered
// later (such as closing a store on it) have run; connections still open then
// are terminated.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	adminURL := os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = DefaultPostgresURL
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("TEST_DATABASE_URL must be a postgres:// URL")
	}
	admin := connectAdmin(tb, adminURL, u.Redacted())

	name := "billingd_test_" + randomHex(tb, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// connectAdmin opens the admin connection, closed at cleanup, or skips (fails
// under CI) when PostgreSQL does not answer.
func connectAdmin(tb testing.TB, adminURL, redacted string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", adminURL)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL not reachable at %s (CI is set, so this fails instead of skipping): %v", redacted, err)
		}
		tb.Skipf("PostgreSQL not reachable at %s; set TEST_DATABASE_URL or start it: %v", redacted, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random database name: %v", err)
	}
	return hex.EncodeToString(b)
}
