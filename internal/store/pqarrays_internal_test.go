package store

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/lib/pq"
)

func TestPQArrays_EncodedAsTheirSlices(t *testing.T) {
	m := pgtype.NewMap()
	preferPQArraySlices(m)
	for _, c := range []struct {
		oid   uint32
		value any
	}{
		{pgtype.Int8ArrayOID, pq.Array([]int64{1})},
		{pgtype.TextArrayOID, pq.Array([]string{"a"})},
		{pgtype.ByteaArrayOID, pq.Array([][]byte{nil})},
		{pgtype.TimestamptzArrayOID, pq.Array([]time.Time{time.Now()})},
		{pgtype.Int2ArrayOID, pq.Array([]int16{1})},
	} {
		if plan := m.PlanEncode(c.oid, pgtype.BinaryFormatCode, c.value); plan == nil {
			t.Errorf("%T: no plan", c.value)
		} else if _, ok := plan.(*pqArrayPlan); !ok {
			t.Errorf("%T: plan %T; want the slice encoded directly, not the text form", c.value, plan)
		}
	}
}

func TestPQArrays_AnotherSliceThanPlannedIsAnError(t *testing.T) {
	m := pgtype.NewMap()
	preferPQArraySlices(m)
	if _, err := m.Encode(pgtype.Int2ArrayOID, pgtype.BinaryFormatCode, pq.Array([]int16{1}), nil); err != nil {
		t.Fatalf("encode []int16: %v", err)
	}
	if _, err := m.Encode(pgtype.Int2ArrayOID, pgtype.BinaryFormatCode, pq.Array([]time.Time{{}}), nil); err == nil {
		t.Fatal("a []time.Time under the plan made for []int16 was encoded; want an error")
	}
}
