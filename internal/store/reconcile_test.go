package store_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/reconcile"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// TestReconcileQueries: each subtest gets a database of its own, so the
// candidate lists are exactly what it wrote.
func TestReconcileQueries(t *testing.T) {
	ctx := context.Background()
	t.Run("Unfinished", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			org := func(id, customer string) {
				if _, err := s.EnsureOrganization(ctx, billing.Organization{ID: id, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					t.Fatal(err)
				}
				if customer != "" {
					if _, err := s.SetCustomerID(ctx, id, customer); err != nil {
						t.Fatal(err)
					}
				}
			}
			checkout := func(id, orgID, subID, customerID string, status billing.CheckoutStatus) {
				cs := checkoutSession(id, orgID, status, t0, t0.Add(time.Hour))
				cs.SubscriptionID, cs.CustomerID = subID, customerID
				if err := s.SaveCheckoutSession(ctx, cs); err != nil {
					t.Fatal(err)
				}
			}
			// Completed, its subscription never stored: a candidate, by the
			// checkout's Customer when the org has none yet.
			org("org_lost", "")
			checkout("cs_lost", "org_lost", "sub_lost", "cus_lost", billing.CheckoutComplete)
			// Completed with no subscription id at all, org without subscriptions.
			org("org_noid", "cus_noid")
			checkout("cs_noid", "org_noid", "", "", billing.CheckoutComplete)
			// Completed and its subscription arrived: fine.
			org("org_ok", "cus_ok")
			checkout("cs_ok", "org_ok", "sub_ok", "cus_ok", billing.CheckoutComplete)
			if err := s.SaveSubscription(ctx, subscription("sub_ok", "org_ok")); err != nil {
				t.Fatal(err)
			}
			// Open and expired checkouts are not unfinished.
			org("org_open", "cus_open")
			checkout("cs_open", "org_open", "", "", billing.CheckoutOpen)
			checkout("cs_exp", "org_open", "", "", billing.CheckoutExpired)

			now := t0.Add(31 * 24 * time.Hour)
			// Access past the period end (entitlement's period ends at t0+30d).
			org("org_lapsed", "cus_lapsed")
			if err := s.SaveEntitlement(ctx, entitlement("org_lapsed", 1)); err != nil {
				t.Fatal(err)
			}
			// Period not over yet.
			org("org_current", "cus_current")
			current := entitlement("org_current", 1)
			later := now.Add(time.Hour)
			current.CurrentPeriodEnd = &later
			if err := s.SaveEntitlement(ctx, current); err != nil {
				t.Fatal(err)
			}
			// Past its period but canceled: grants nothing, nothing to heal.
			org("org_canceled", "cus_canceled")
			canceled := entitlement("org_canceled", 1)
			canceled.Status = billing.StatusCanceled
			if err := s.SaveEntitlement(ctx, canceled); err != nil {
				t.Fatal(err)
			}

			got, err := s.Unfinished(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			want := []reconcile.Candidate{
				{OrgID: "org_lost", CustomerID: "cus_lost", Reason: reconcile.ReasonCheckoutWithoutSubscription},
				{OrgID: "org_noid", CustomerID: "cus_noid", Reason: reconcile.ReasonCheckoutWithoutSubscription},
				{OrgID: "org_lapsed", CustomerID: "cus_lapsed", Reason: reconcile.ReasonAccessAfterPeriodEnd},
			}
			sortCandidates(got)
			sortCandidates(want)
			assertEqual(t, got, want)
		})
	})
	t.Run("WithCustomer", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			for _, id := range []string{"org_b", "org_a", "org_none"} {
				if _, err := s.EnsureOrganization(ctx, billing.Organization{ID: id, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					t.Fatal(err)
				}
				if id != "org_none" {
					if _, err := s.SetCustomerID(ctx, id, "cus_"+id); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := s.WithCustomer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, got, []reconcile.Candidate{
				{OrgID: "org_a", CustomerID: "cus_org_a", Reason: reconcile.ReasonBackfill},
				{OrgID: "org_b", CustomerID: "cus_org_b", Reason: reconcile.ReasonBackfill},
			})
		})
	})
	t.Run("RecordedEvents", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			var asked []string
			for i := range 1200 { // more than one IN list's worth
				id := fmt.Sprintf("evt_%04d", i)
				asked = append(asked, id)
				if i%100 == 7 {
					if err := s.RecordEvent(ctx, event(id)); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := s.RecordedEvents(ctx, asked)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			var want []string
			for i := 7; i < 1200; i += 100 {
				want = append(want, fmt.Sprintf("evt_%04d", i))
			}
			assertEqual(t, got, want)
			if none, err := s.RecordedEvents(ctx, nil); err != nil || len(none) != 0 {
				t.Fatalf("RecordedEvents(nil) = %v, %v", none, err)
			}
		})
	})
	t.Run("PruneEvents", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
			for i, created := range []time.Time{t0.Add(-2 * time.Hour), t0.Add(-time.Hour), t0, t0.Add(time.Hour)} {
				ev := event("evt_" + string(rune('a'+i)))
				ev.Created = created
				if err := s.RecordEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.PruneEvents(ctx, t0)
			if err != nil || n != 2 {
				t.Fatalf("PruneEvents = %d, %v; want the 2 created before the cutoff", n, err)
			}
			for i, wantKept := range []bool{false, false, true, true} {
				ev := event("evt_" + string(rune('a'+i)))
				err := s.RecordEvent(ctx, ev)
				if kept := err != nil; kept != wantKept {
					t.Errorf("event %s kept = %v, want %v (RecordEvent: %v)", ev.ID, kept, wantKept, err)
				}
			}
		})
	})
}

func sortCandidates(c []reconcile.Candidate) {
	slices.SortFunc(c, func(a, b reconcile.Candidate) int {
		return cmp.Or(strings.Compare(a.Reason, b.Reason), strings.Compare(a.OrgID, b.OrgID))
	})
}
