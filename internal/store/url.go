package store

import (
	"errors"
	"net/url"
	"strings"
)

// Dialects a Location names.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// memoryPath is the SQLite path of a private in-memory database.
const memoryPath = ":memory:"

// Location is a parsed DATABASE_URL: which database billingd uses and where.
// ParseURL is the only place that reads the URL's form.
type Location struct {
	dialect string
	url     string // the PostgreSQL URL; it may hold a password
	path    string // the SQLite file, or memoryPath
}

// ParseURL reads a DATABASE_URL: postgres://… or postgresql://… for
// PostgreSQL, sqlite:PATH for a SQLite file and sqlite::memory: for a private
// in-memory database. Its error is a phrase about the value to follow the
// variable's name ("DATABASE_URL " + err); it never repeats the value, which
// may hold a password.
func ParseURL(databaseURL string) (Location, error) {
	switch {
	case databaseURL == "":
		return Location{}, errors.New("is required")
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		if u, err := url.Parse(databaseURL); err != nil || u.Host == "" {
			return Location{}, errors.New("is not a valid PostgreSQL URL (postgres://user:pass@host:port/db)")
		}
		return Location{dialect: DialectPostgres, url: databaseURL}, nil
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path := strings.TrimPrefix(databaseURL, "sqlite:")
		if path == "" {
			return Location{}, errors.New("sqlite: needs a file path, e.g. sqlite:billing.db")
		}
		return Location{dialect: DialectSQLite, path: path}, nil
	default:
		return Location{}, errors.New("must be postgres://…, postgresql://…, sqlite:PATH or sqlite::memory:")
	}
}

// Dialect is DialectPostgres or DialectSQLite; "" for the zero Location.
func (l Location) Dialect() string { return l.dialect }

// PostgresURL is the PostgreSQL connection URL, "" for SQLite. It may hold a
// password: never log it.
func (l Location) PostgresURL() string { return l.url }

// SQLitePath is the SQLite file (":memory:" for an in-memory database), ""
// for PostgreSQL.
func (l Location) SQLitePath() string { return l.path }

func (l Location) memory() bool { return l.dialect == DialectSQLite && l.path == memoryPath }
