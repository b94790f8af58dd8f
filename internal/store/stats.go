package store

import (
	"database/sql"
	"fmt"
)

// SQLDB returns the connection pool under the store, for its statistics
// (metrics). Queries must go through the Store's methods, never through it.
func (s *Store) SQLDB() (*sql.DB, error) {
	db, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: connection pool: %w", err)
	}
	return db, nil
}
