package store

import (
	"reflect"
	"slices"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestColumns_FollowTheRowTypes: the written-out statements name a row
// type's columns in a list, and scan and bind its fields in the same order.
// Each list must be the row type's columns in the order of its fields, as
// GORM (which still reads these tables elsewhere) maps them; else two
// columns of one type would trade places on disk and back unnoticed.
func TestColumns_FollowTheRowTypes(t *testing.T) {
	for _, c := range []struct {
		row     any // a pointer to a row
		columns []string
	}{
		{&subscriptionRow{}, subscriptionColumns},
		{&entitlementRow{}, entitlementColumns},
		{&organizationRow{}, organizationColumns},
	} {
		name := reflect.TypeOf(c.row).Elem().Name()
		t.Run(name, func(t *testing.T) {
			s, err := schema.Parse(c.row, &sync.Map{}, schema.NamingStrategy{})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, f := range s.Fields {
				want = append(want, f.DBName)
			}
			if !slices.Equal(c.columns, want) {
				t.Errorf("columns %v, want %v", c.columns, want)
			}
			v := reflect.ValueOf(c.row).Elem()
			for i, p := range fieldsOf(c.row) {
				if i >= v.NumField() || reflect.ValueOf(p).Pointer() != v.Field(i).Addr().Pointer() {
					t.Errorf("fields()[%d] is not field %d of %s", i, i, name)
				}
			}
			if got := len(fieldsOf(c.row)); got != v.NumField() {
				t.Errorf("fields() has %d pointers, %s has %d fields", got, name, v.NumField())
			}
		})
	}
	t.Run("values", func(t *testing.T) {
		// values() are fields() dereferenced, for the two rows written out.
		sub := subscriptionRow{ID: "sub", OrgID: "org", CustomerID: "cus", Status: "active", Plan: "pro", PriceID: "price",
			LookupKey: "key", Interval: "month", Quantity: 2, CancelAtPeriodEnd: true}
		ent := entitlementRow{OrgID: "org", Plan: "pro", Status: "active", SubscriptionID: "sub", PriceID: "price",
			Interval: "month", Seats: 2, CancelAtPeriodEnd: true, Version: 3}
		for _, c := range []struct {
			fields, values []any
		}{{sub.fields(), sub.values()}, {ent.fields(), ent.values()}} {
			for i, p := range c.fields {
				if got := reflect.ValueOf(p).Elem().Interface(); !reflect.DeepEqual(got, c.values[i]) {
					t.Errorf("values()[%d] = %v, want field %d's %v", i, c.values[i], i, got)
				}
			}
		}
	})
}

func fieldsOf(row any) []any {
	switch r := row.(type) {
	case *subscriptionRow:
		return r.fields()
	case *entitlementRow:
		return r.fields()
	case *organizationRow:
		return r.fields()
	}
	panic("no fields for " + reflect.TypeOf(row).String())
}
