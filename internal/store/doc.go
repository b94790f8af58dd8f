// Package store owns billingd's persistence: it implements billing.Store with
// GORM on PostgreSQL (production, several replicas) or embedded SQLite (the
// default, pure Go), and applies the versioned SQL migrations embedded in the
// binary when it opens a database.
//
// GORM row types are private to this package and converted to and from the
// domain types at every method boundary; GORM's errors are translated into the
// domain's (billing.ErrNotFound, billing.ErrDuplicateEvent). It must not import
// Echo, stripe-go or any other adapter package.
//
// Times are stored in UTC with microsecond precision (PostgreSQL timestamptz's
// resolution); the store truncates every time it writes, so what is read back
// equals what was written after t.UTC().Truncate(time.Microsecond).
package store
