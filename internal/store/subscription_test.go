package store_test

import (
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

func testSubscriptions(t *testing.T, s *store.Store) {
	t.Run("Subscription/ErrNotFound", func(t *testing.T) {
		_, err := s.Subscription(t.Context(), "sub_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveSubscription/InsertsAndReplaces", func(t *testing.T) {
		want := subscription(uniqueID(t, "sub"), uniqueID(t, "org"))
		saveAndReadSubscription(t, s, want)

		want.Status, want.CancelAtPeriodEnd, want.TrialEnd = billing.StatusActive, true, nil
		want.EventCreated = t0.Add(time.Minute)
		saveAndReadSubscription(t, s, want)
	})
	t.Run("SaveSubscription/CancelAtIsKeptAndCleared", func(t *testing.T) {
		want := subscription(uniqueID(t, "sub"), uniqueID(t, "org"))
		cancelAt := t0.Add(10 * 24 * time.Hour)
		want.CancelAt = &cancelAt
		for range 2 { // scheduled, then taken back by the customer
			saveAndReadSubscription(t, s, want)
			want.CancelAt = nil
		}
	})
	t.Run("EntitlementInputs/OrderedByID", func(t *testing.T) {
		org := uniqueID(t, "org")
		for _, id := range []string{"sub_c", "sub_a", "sub_b"} {
			if err := s.SaveSubscription(t.Context(), subscription(uniqueID(t, id), org)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveSubscription(t.Context(), subscription(uniqueID(t, "sub_other"), "org_other")); err != nil {
			t.Fatal(err)
		}
		got, err := s.EntitlementInputs(t.Context(), org)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, st := range got.Subscriptions {
			ids = append(ids, st.ID)
		}
		assertEqual(t, ids, []string{uniqueID(t, "sub_a"), uniqueID(t, "sub_b"), uniqueID(t, "sub_c")})
		assertEqual(t, got.Subscriptions[0], subscription(uniqueID(t, "sub_a"), org))
		if got.Entitlement != nil {
			t.Errorf("entitlement %+v, want none: none was written", *got.Entitlement)
		}
		want := billing.Entitlement{OrgID: org, SubscriptionPlan: "pro", Status: billing.StatusActive, SubscriptionID: uniqueID(t, "sub_a"),
			Seats: 3, EventCreated: t0, UpdatedAt: t0, Version: 4}
		if err := s.SaveEntitlement(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		if got, err = s.EntitlementInputs(t.Context(), org); err != nil {
			t.Fatal(err)
		}
		if len(got.Subscriptions) != 3 || got.Entitlement == nil {
			t.Fatalf("got %d subscriptions and entitlement %v, want 3 and the one saved", len(got.Subscriptions), got.Entitlement)
		}
		assertEqual(t, *got.Entitlement, want)
	})
	t.Run("EntitlementInputs/EntitlementWithoutSubscriptions", func(t *testing.T) {
		// Every column of the entitlement, read back through the columns it
		// shares with subscriptions in the one read.
		org := uniqueID(t, "org")
		trialEnd, periodEnd, cancelAt := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
		want := billing.Entitlement{OrgID: org, SubscriptionPlan: "team", Status: billing.StatusTrialing,
			SubscriptionID: uniqueID(t, "sub_gone"), PriceID: "price_team_yearly", Interval: billing.Year, Seats: 7,
			TrialEnd: &trialEnd, CurrentPeriodEnd: &periodEnd, CancelAtPeriodEnd: true, CancelAt: &cancelAt,
			EventCreated: t0, UpdatedAt: t0.Add(time.Minute), Version: 9}
		if err := s.SaveEntitlement(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.EntitlementInputs(t.Context(), org)
		if err != nil || len(got.Subscriptions) != 0 || got.Entitlement == nil {
			t.Fatalf("got %+v, %v; want the entitlement alone", got, err)
		}
		assertEqual(t, *got.Entitlement, want)
	})
	t.Run("EntitlementInputs/NoneIsEmpty", func(t *testing.T) {
		got, err := s.EntitlementInputs(t.Context(), "org_missing")
		if err != nil || len(got.Subscriptions) != 0 || got.Entitlement != nil {
			t.Fatalf("got %+v, %v; want nothing and no error", got, err)
		}
	})
}

// saveAndReadSubscription saves want and checks that reading it back gives want.
func saveAndReadSubscription(t *testing.T, s *store.Store, want billing.SubscriptionState) {
	t.Helper()
	if err := s.SaveSubscription(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Subscription(t.Context(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, want)
}
