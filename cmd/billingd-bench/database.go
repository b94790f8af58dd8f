package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for CREATE/DROP DATABASE
)

// defaultAdminURL is used when neither BENCH_DATABASE_URL nor TEST_DATABASE_URL is set.
const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// adminURL picks the PostgreSQL server the benchmark creates its database on.
func adminURL(getenv func(string) string) string {
	for _, k := range []string{"BENCH_DATABASE_URL", "TEST_DATABASE_URL"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return defaultAdminURL
}

// benchDB is a fresh, empty database on the admin URL's server; drop removes it.
type benchDB struct {
	URL   string
	admin *sql.DB
	name  string
}

func createDatabase(ctx context.Context, admin string) (*benchDB, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("database: want a postgres:// URL in BENCH_DATABASE_URL or TEST_DATABASE_URL")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: PostgreSQL not reachable at %s (set BENCH_DATABASE_URL): %w", u.Redacted(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "billingd_bench_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: create %s: %w", name, err)
	}
	u.Path = "/" + name
	return &benchDB{URL: u.String(), admin: db, name: name}, nil
}

// drop removes the database, closing whatever connections are still open on it.
func (b *benchDB) drop() error {
	defer b.admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+b.name+`" WITH (FORCE)`); err != nil {
		return fmt.Errorf("database: drop %s: %w", b.name, err)
	}
	return nil
}
