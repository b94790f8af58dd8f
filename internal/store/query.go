package store

import (
	"context"

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
