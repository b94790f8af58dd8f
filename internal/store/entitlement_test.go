package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

func testEntitlements(t *testing.T, s *store.Store) {
	t.Run("Entitlement/ErrNotFound", func(t *testing.T) {
		_, err := s.Entitlement(t.Context(), "org_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveEntitlement/Inserts", func(t *testing.T) {
		want := entitlement(uniqueID(t, "org"), 3)
		saveAndReadEntitlement(t, s, want)
	})
	t.Run("SaveEntitlement/Replaces", func(t *testing.T) {
		first := entitlement(uniqueID(t, "org"), 3)
		if err := s.SaveEntitlement(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		want := billing.Entitlement{
			OrgID: first.OrgID, SubscriptionPlan: billing.FreePlan, Status: billing.StatusCanceled,
			SubscriptionID: "sub_2", EventCreated: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour),
		}
		saveAndReadEntitlement(t, s, want)
	})
	t.Run("SaveEntitlement/CancelAtIsKeptAndCleared", func(t *testing.T) {
		want := entitlement(uniqueID(t, "org"), 1)
		cancelAt := t0.Add(10 * 24 * time.Hour)
		want.CancelAt = &cancelAt
		for range 2 { // scheduled, then taken back by the customer
			saveAndReadEntitlement(t, s, want)
			want.CancelAt = nil
		}
	})
	t.Run("SaveEntitlement/VersionIsKeptAndReplaced", func(t *testing.T) {
		want := entitlement(uniqueID(t, "org"), 1)
		for _, version := range []int64{1, 2, 1 << 40} { // bigint: beyond int32
			want.Version = version
			saveAndReadEntitlement(t, s, want)
			many, err := s.EntitlementsOf(t.Context(), []string{want.OrgID})
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, many, []billing.Entitlement{want})
		}
	})
	t.Run("EntitlementsOf/ThoseThatHaveOne", func(t *testing.T) {
		a, b := entitlement(uniqueID(t, "org_a"), 1), entitlement(uniqueID(t, "org_b"), 2)
		for _, e := range []billing.Entitlement{a, b, entitlement(uniqueID(t, "org_not_asked"), 3)} {
			if err := s.SaveEntitlement(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.EntitlementsOf(t.Context(), []string{b.OrgID, "org_missing", a.OrgID})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(x, y billing.Entitlement) int { return strings.Compare(x.OrgID, y.OrgID) })
		assertEqual(t, got, []billing.Entitlement{a, b})
	})
	t.Run("EntitlementsOf/NoneIsEmpty", func(t *testing.T) {
		for _, ids := range [][]string{nil, {"org_missing"}} {
			got, err := s.EntitlementsOf(t.Context(), ids)
			if err != nil || len(got) != 0 {
				t.Fatalf("EntitlementsOf(%v) = %v, %v; want none and no error", ids, got, err)
			}
		}
	})
}

// saveAndReadEntitlement saves want and checks that reading it back gives want.
func saveAndReadEntitlement(t *testing.T, s *store.Store, want billing.Entitlement) {
	t.Helper()
	if err := s.SaveEntitlement(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Entitlement(t.Context(), want.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, want)
}
