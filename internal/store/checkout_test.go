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
			st, err := s.CheckoutState(t.Context(), org, "", tc.at)
			if open := st.OpenSession != nil; err != nil || open != tc.open {
				t.Errorf("CheckoutState at %v: open session %v, err %v; want open = %v", tc.at, st.OpenSession, err, tc.open)
			}
		}
	})
	testCheckoutState(t, s)
}

func testCheckoutState(t *testing.T, s *store.Store) {
	t.Run("CheckoutState/NothingStored", func(t *testing.T) {
		st, err := s.CheckoutState(t.Context(), uniqueID(t, "org"), "key-1", t0)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, st, billing.CheckoutState{})
	})
	t.Run("CheckoutState/ReadsWhatEachReaderReads", func(t *testing.T) {
		org := ensureOrg(t, s).ID
		if _, err := s.SetCustomerID(t.Context(), org, uniqueID(t, "cus")); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveEntitlement(t.Context(), entitlement(org, 3)); err != nil {
			t.Fatal(err)
		}
		for _, cs := range []billing.CheckoutSession{
			checkoutSession(uniqueID(t, "cs_old"), org, billing.CheckoutOpen, t0, t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_open"), org, billing.CheckoutOpen, t0.Add(time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_expired"), org, billing.CheckoutOpen, t0.Add(2*time.Minute), t0.Add(5*time.Minute)),
			checkoutSession(uniqueID(t, "cs_latest"), org, billing.CheckoutComplete, t0.Add(3*time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_other_org"), uniqueID(t, "org_other"), billing.CheckoutOpen, t0.Add(4*time.Minute), t0.Add(time.Hour)),
		} {
			if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []billing.IdempotentResponse{
			{OrgID: org, Key: "k", RequestHash: "h", SessionID: uniqueID(t, "cs_open"), CreatedAt: t0},
			{OrgID: uniqueID(t, "org_other"), Key: "k-other", RequestHash: "h", SessionID: "cs_x", CreatedAt: t0},
		} {
			if err := s.SaveIdempotentResponse(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		at := t0.Add(10 * time.Minute)

		got, err := s.CheckoutState(t.Context(), org, "k", at)
		if err != nil {
			t.Fatal(err)
		}
		// What CheckoutState reads is what the single readers read.
		orgRow, err1 := s.Organization(t.Context(), org)
		ent, err2 := s.Entitlement(t.Context(), org)
		open, err3 := s.OpenCheckoutSession(t.Context(), org, at)
		latest, err4 := s.LatestCheckoutSession(t.Context(), org)
		idem, err5 := s.IdempotentResponse(t.Context(), org, "k")
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			t.Fatal(err)
		}
		want := billing.CheckoutState{Org: orgRow, Entitlement: &ent, OpenSession: &open, LatestSessionID: latest.ID, Idempotent: &idem}
		assertEqual(t, got, want)
		if open.ID != uniqueID(t, "cs_open") || want.LatestSessionID != uniqueID(t, "cs_latest") || want.Org.StripeCustomerID == "" {
			t.Fatalf("fixture read back wrong: open %s, latest %s, org %+v", open.ID, want.LatestSessionID, want.Org)
		}

		// Keys belong to their org; no key asks for none.
		for _, key := range []string{"k-other", ""} {
			got, err := s.CheckoutState(t.Context(), org, key, at)
			if err != nil || got.Idempotent != nil {
				t.Errorf("key %q: idempotent response %+v, err %v; want none", key, got.Idempotent, err)
			}
		}
	})
}
