package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

func testCheckoutSessions(t *testing.T, s *store.Store) {
	t.Run("CheckoutSession/ErrNotFound", func(t *testing.T) {
		_, err := s.CheckoutSession(t.Context(), "cs_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveCheckoutSession/InsertsAndReplaces", func(t *testing.T) {
		want := checkoutSession(uniqueID(t, "cs"), uniqueID(t, "org"), billing.CheckoutOpen, t0, t0.Add(time.Hour))
		if err := s.SaveCheckoutSession(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.CheckoutSession(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)

		want.Status, want.SubscriptionID, want.CustomerID = billing.CheckoutComplete, "sub_1", "cus_1"
		want.UpdatedAt = t0.Add(time.Minute)
		if err := s.SaveCheckoutSession(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err = s.CheckoutSession(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
	t.Run("SaveCheckoutSession/KeepsCreatedAt", func(t *testing.T) {
		cs := checkoutSession(uniqueID(t, "cs"), uniqueID(t, "org"), billing.CheckoutOpen, t0, t0.Add(time.Hour))
		if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
			t.Fatal(err)
		}
		cs.CreatedAt = time.Time{}
		if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
			t.Fatal(err)
		}
		got, err := s.CheckoutSession(t.Context(), cs.ID)
		if err != nil || !got.CreatedAt.Equal(t0) {
			t.Fatalf("created at %v (err %v), want %v", got.CreatedAt, err, t0)
		}
	})
	t.Run("OpenCheckoutSession/NewestOpenNotExpired", func(t *testing.T) {
		org := uniqueID(t, "org")
		for _, cs := range []billing.CheckoutSession{
			checkoutSession(uniqueID(t, "cs_old"), org, billing.CheckoutOpen, t0, t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_want"), org, billing.CheckoutOpen, t0.Add(time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_expired"), org, billing.CheckoutOpen, t0.Add(2*time.Minute), t0.Add(5*time.Minute)),
			checkoutSession(uniqueID(t, "cs_complete"), org, billing.CheckoutComplete, t0.Add(3*time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_other_org"), "org_other", billing.CheckoutOpen, t0.Add(4*time.Minute), t0.Add(time.Hour)),
		} {
			if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.OpenCheckoutSession(t.Context(), org, t0.Add(10*time.Minute))
		if err != nil || got.ID != uniqueID(t, "cs_want") {
			t.Fatalf("got %q, %v; want %q", got.ID, err, uniqueID(t, "cs_want"))
		}
		_, err = s.OpenCheckoutSession(t.Context(), org, t0.Add(time.Hour))
		assertNotFound(t, err)
	})
	t.Run("LatestCheckoutSession/NewestInAnyStatus", func(t *testing.T) {
		org := uniqueID(t, "org")
		_, err := s.LatestCheckoutSession(t.Context(), org)
		assertNotFound(t, err)
		for _, cs := range []billing.CheckoutSession{
			checkoutSession(uniqueID(t, "cs_old"), org, billing.CheckoutOpen, t0, t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_want"), org, billing.CheckoutExpired, t0.Add(time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_other_org"), "org_other", billing.CheckoutOpen, t0.Add(2*time.Minute), t0.Add(time.Hour)),
		} {
			if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.LatestCheckoutSession(t.Context(), org)
		if err != nil || got.ID != uniqueID(t, "cs_want") {
			t.Fatalf("got %q, %v; want %q", got.ID, err, uniqueID(t, "cs_want"))
		}
	})
	t.Run("OpenCheckoutSession/ComparesSubSecondExpiry", func(t *testing.T) {
		org := uniqueID(t, "org")
		expires := t0.Truncate(time.Second) // a whole second: stored without fraction
		if err := s.SaveCheckoutSession(t.Context(), checkoutSession(uniqueID(t, "cs"), org, billing.CheckoutOpen, t0.Add(-time.Hour), expires)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at   time.Time
			open bool
		}{
			{expires.Add(-500 * time.Millisecond), true},
			{expires.Add(-time.Microsecond), true},
			{expires, false},
			{expires.Add(time.Microsecond), false},
			{expires.Add(500 * time.Millisecond), false},
		} {
			_, err := s.OpenCheckoutSession(t.Context(), org, tc.at)
			if open := err == nil; open != tc.open || (err != nil && !errors.Is(err, billing.ErrNotFound)) {
				t.Errorf("at %v: err = %v, want open = %v", tc.at, err, tc.open)
			}
		}
	})
}
