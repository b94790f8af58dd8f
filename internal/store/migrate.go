package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of goose SQL files per dialect. Both
// directories hold the same versions: a schema change is written twice.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// migrationDirs names each dialect's directory in migrations.
var migrationDirs = map[goose.Dialect]string{
	goose.DialectPostgres: "migrations/postgres",
	goose.DialectSQLite3:  "migrations/sqlite",
}

// Replicas starting together wait for the one applying migrations: the lock is
// retried every second for up to five minutes.
const (
	migrationLockRetrySeconds = 1
	migrationLockRetries      = 300
)

// migrate applies every pending migration of dialect to db.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect) error {
	fsys, err := fs.Sub(migrations, migrationDirs[dialect])
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if dialect == goose.DialectPostgres {
		// A session-level advisory lock serialises replicas that start at once;
		// SQLite needs none, being one process's file.
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockTimeout(migrationLockRetrySeconds, migrationLockRetries),
		)
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	provider, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	// provider.Close would close db: the store owns it, so it is not called.
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("store: apply migrations: %w", err)
	}
	return nil
}
