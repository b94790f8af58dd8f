package store_test

import (
	"database/sql"
	"testing"

	"github.com/billingd/billingd/internal/store/storetest"
)

// TestSQLiteReplace_TablesAllowIt: on SQLite, SaveSubscription and
// SaveEntitlement write INSERT OR REPLACE, which deletes any row in the way
// of a unique key and then inserts. That is an upsert of the key only while
// the key is the table's one unique constraint, and no foreign key or
// trigger sees the delete. A migration that changes that must change them.
func TestSQLiteReplace_TablesAllowIt(t *testing.T) {
	db := storetest.OpenSQLite(t).WriterDB()
	for _, table := range []string{"subscriptions", "entitlements"} {
		t.Run(table, func(t *testing.T) {
			var unique []string
			eachRow(t, db, "SELECT name, origin FROM pragma_index_list(?) WHERE \"unique\"", []any{table}, func(rows *sql.Rows) {
				var name, origin string
				if err := rows.Scan(&name, &origin); err != nil {
					t.Fatal(err)
				}
				if origin != "pk" {
					unique = append(unique, name)
				}
			})
			if len(unique) > 0 {
				t.Errorf("unique indexes besides the primary key: %v", unique)
			}
			eachRow(t, db, `SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f
				WHERE m.type = 'table' AND f."table" = ?`, []any{table}, func(rows *sql.Rows) {
				var name string
				_ = rows.Scan(&name)
				t.Errorf("table %s has a foreign key to %s", name, table)
			})
			eachRow(t, db, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", []any{table}, func(rows *sql.Rows) {
				var name string
				_ = rows.Scan(&name)
				t.Errorf("trigger %s on %s", name, table)
			})
		})
	}
}

func eachRow(t *testing.T, db *sql.DB, query string, args []any, fn func(*sql.Rows)) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		fn(rows)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
