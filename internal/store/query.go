package store

import (
	"context"
	"database/sql"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// take reads the single row of R matching where (column → value), translating
// GORM's not-found into billing.ErrNotFound. Extra clauses (a row lock) are
// added to the query.
func take[R any](ctx context.Context, db *gorm.DB, what string, where map[string]any, extra ...clause.Expression) (R, error) {
	var row R
	if err := db.WithContext(ctx).Clauses(extra...).Where(where).Take(&row).Error; err != nil {
		return row, dbError(what, err)
	}
	return row, nil
}

// find reads every row of R that q selects and converts each with toDomain, so
// that no row type leaves the package; none is an empty result, not an error.
func find[R, T any](q *gorm.DB, what string, toDomain func(R) T) ([]T, error) {
	var rows []R
	if err := q.Find(&rows).Error; err != nil {
		return nil, dbError(what, err)
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = toDomain(r)
	}
	return out, nil
}

// The statements every webhook runs are written out and scanned by hand
// (see subscriptionColumns): GORM's reflection over row types, to build them and to scan
// their rows, cost more CPU than the database's own work on SQLite, whose
// single writer every other webhook waits for.

// queryRows runs the read query and hands each row to scan; GORM's
// callbacks still give it its pool and deadline.
func queryRows(ctx context.Context, db *gorm.DB, what, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.WithContext(ctx).Raw(query, args...).Rows()
	if err != nil {
		return dbError(what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return dbError(what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return dbError(what, err)
	}
	return nil
}

// queryRow is queryRows for a query of at most one row: none is
// billing.ErrNotFound.
func queryRow(ctx context.Context, db *gorm.DB, what, query string, args []any, scan func(*sql.Rows) error) error {
	found := false
	err := queryRows(ctx, db, what, query, args, func(rows *sql.Rows) error {
		found = true
		return scan(rows)
	})
	if err == nil && !found {
		err = dbError(what, gorm.ErrRecordNotFound)
	}
	return err
}

// columnList is columns quoted for both databases ("interval" is a keyword
// on PostgreSQL), prefixed with table when it is not "".
func columnList(table string, columns []string) string {
	var b strings.Builder
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		if table != "" {
			b.WriteString(table + ".")
		}
		b.WriteString(`"` + c + `"`)
	}
	return b.String()
}

// replacement is the statement that inserts a row of columns into a
// table or, when its key (the first column) exists, replaces every other
// column: what GORM's OnConflict{UpdateAll: true} writes for these row
// types.
type replacement struct {
	onConflict string // INSERT … ON CONFLICT DO UPDATE, on PostgreSQL
	// orReplace is INSERT OR REPLACE on SQLite: the same effect on a table
	// whose only unique key is the first column and that no foreign key
	// references, and SQLite parses it in half the time (the driver
	// parses every statement each time it runs).
	orReplace string
	// insert and conflict are onConflict before and after its VALUES row,
	// for rows.
	insert, conflict string
	width            int
}

func replacementOf(table string, columns []string) replacement {
	set := make([]string, 0, len(columns)-1)
	for _, c := range columns[1:] {
		set = append(set, `"`+c+`" = excluded."`+c+`"`)
	}
	into := " INTO " + table + " (" + columnList("", columns) + ") VALUES "
	row := rowsOf(1, len(columns))
	conflict := ` ON CONFLICT ("` + columns[0] + `") DO UPDATE SET ` + strings.Join(set, ", ")
	return replacement{
		onConflict: "INSERT" + into + row + conflict,
		orReplace:  "INSERT OR REPLACE" + into + row,
		insert:     "INSERT" + into, conflict: conflict, width: len(columns),
	}
}

// rows is onConflict for n rows, whose keys must differ (PostgreSQL).
func (r replacement) rows(n int) string { return r.insert + rowsOf(n, r.width) + r.conflict }

// replace runs r with values, in the order of its columns.
func (s *Store) replace(ctx context.Context, what string, r replacement, values ...any) error {
	query := r.onConflict
	if s.pools.dialect == DialectSQLite {
		query = r.orReplace
	}
	_, err := exec(ctx, s.db, what, query, values...)
	return err
}

// exec runs a write; it returns the rows it affected.
func exec(ctx context.Context, db *gorm.DB, what, query string, args ...any) (int64, error) {
	res := db.WithContext(ctx).Exec(query, args...)
	if res.Error != nil {
		return 0, dbError(what, res.Error)
	}
	return res.RowsAffected, nil
}

// upsert inserts row or, when its primary key exists, replaces every column
// except created_at (GORM leaves auto-create-time columns alone on conflict).
func upsert(ctx context.Context, s *Store, what string, row any) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(row).Error
	if err != nil {
		return dbError(what, err)
	}
	return nil
}
