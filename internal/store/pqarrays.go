package store

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/lib/pq"
)

// River's database/sql driver passes arrays as lib/pq's wrappers (pq.Array).
// pgx encodes a driver.Valuer it does not know by its text form: pq formats
// the array as text, and pgx parses that back into an array to send it in
// binary. For the insert of a delivery job that round trip was about an
// eighth of billingd's CPU per webhook (make bench -profile, events on).
// encodePQArraysNatively lets pgx encode the slice inside each wrapper
// directly, which stores the same values.
func encodePQArraysNatively(_ context.Context, conn *pgx.Conn) error {
	preferPQArraySlices(conn.TypeMap())
	return nil
}

func preferPQArraySlices(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{unwrapPQArray}, m.TryWrapEncodePlanFuncs...)
}

// unwrapPQArray is a pgtype.TryWrapEncodePlanFunc for lib/pq's array wrappers.
func unwrapPQArray(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	slice, ok := pqArraySlice(value)
	if !ok {
		return nil, nil, false
	}
	return &pqArrayPlan{planned: reflect.TypeOf(slice)}, slice, true
}

// pqArraySlice is the slice a pq array wrapper holds, as pq would store it:
// the wrappers River's driver uses (it passes no floats).
func pqArraySlice(value any) (any, bool) {
	switch v := value.(type) {
	case *pq.BoolArray:
		return deref(v), true
	case *pq.Int64Array:
		return deref(v), true
	case *pq.Int32Array:
		return deref(v), true
	case *pq.StringArray:
		return deref(v), true
	case *pq.ByteaArray:
		return byteaElements(deref(v)), true
	case pq.GenericArray:
		// Only the slices River's driver wraps generically; pgx encodes them
		// as the column's type asks.
		switch a := v.A.(type) {
		case []time.Time, []int16:
			return a, true
		}
	}
	return nil, false
}

func deref[S ~[]E, E any](p *S) []E {
	if p == nil {
		return nil
	}
	return *p
}

// byteaElements keeps pq's reading of a nil element: pq sends it as an empty
// bytea, where pgx would send NULL.
func byteaElements(b [][]byte) [][]byte {
	for i, e := range b {
		if e == nil {
			out := make([][]byte, len(b))
			copy(out, b[:i])
			for j := i; j < len(b); j++ {
				out[j] = b[j]
				if out[j] == nil {
					out[j] = []byte{}
				}
			}
			return out
		}
	}
	return b
}

// pqArrayPlan encodes a pq array wrapper as the slice it holds. pgx keeps a
// plan per parameter type and Go type, and every pq.GenericArray is one Go
// type, so the plan checks that the slice is the one it was made for.
type pqArrayPlan struct {
	planned reflect.Type
	next    pgtype.EncodePlan
}

func (p *pqArrayPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *pqArrayPlan) Encode(value any, buf []byte) ([]byte, error) {
	if g, ok := value.(pq.GenericArray); ok && g.A == nil {
		return nil, nil // NULL, as pq sends it
	}
	slice, ok := pqArraySlice(value)
	if !ok || reflect.TypeOf(slice) != p.planned {
		return nil, fmt.Errorf("store: %T holds a %T, not the %v its parameter was planned for", value, slice, p.planned)
	}
	return p.next.Encode(slice, buf)
}
