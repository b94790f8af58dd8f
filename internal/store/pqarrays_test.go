package store_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/billingd/billingd/internal/store/storetest"
)

// River's database/sql driver hands its arrays to pgx as lib/pq wrappers.
// The store's connections encode the slices inside them directly; what they
// store must be what pgx stores from pq's own text form.
func TestPostgres_PQArraysStoreWhatTheirTextWould(t *testing.T) {
	url := storetest.PostgresURL(t)
	s := storetest.MustOpen(t, url)
	plain, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })

	// Whole microseconds: below that, pgx truncates a time where PostgreSQL
	// rounds its text (as River's own pgx driver does), under 1 µs apart.
	at := time.Date(2026, 12, 1, 20, 30, 15, 123456000, time.FixedZone("X", 3600))
	for _, c := range []struct {
		name, sqlType string
		value         any
	}{
		{"int64", "bigint[]", pq.Array([]int64{0, -2, 1 << 40})},
		{"int32", "integer[]", pq.Array([]int32{0, 7})},
		{"bool", "boolean[]", pq.Array([]bool{true, false})},
		{"strings", "text[]", pq.Array([]string{"a", `q"uote`, "comma,x", "", "NULL", `back\slash`, "{brace}"})},
		{"json", "jsonb[]", pq.Array([]string{`{"a":1}`, `{}`})},
		{"nil strings", "text[]", pq.Array([]string(nil))},
		{"empty strings", "text[]", pq.Array([]string{})},
		{"bytea", "bytea[]", pq.Array([][]byte{nil, {}, {0, 1, 255}})},
		{"times", "timestamptz[]", pq.Array([]time.Time{at, {}})},
		{"int16", "smallint[]", pq.Array([]int16{0, 3})},
		{"nil generic", "smallint[]", pq.GenericArray{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := "SELECT $1::" + c.sqlType + "::text"
			var want, got sql.NullString
			if err := plain.QueryRowContext(t.Context(), q, c.value).Scan(&want); err != nil {
				t.Fatalf("through pq's text form: %v", err)
			}
			if err := s.WriterDB().QueryRowContext(t.Context(), q, c.value).Scan(&got); err != nil {
				t.Fatalf("through the store's pool: %v", err)
			}
			if got != want {
				t.Errorf("stored %v; pq's text form stores %v", got, want)
			}
		})
	}
}
