package billing_test

import (
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// An org's entitlement version strictly increases with each change of its
// entitlement, and only then (SPEC §4, §9).
func TestEntitlementVersion(t *testing.T) {
	t.Run("NeverSeenIsZero", func(t *testing.T) {
		e := newSQLiteEnv(t)
		if v := e.entitlement(t, "org_never").Version; v != 0 {
			t.Fatalf("version = %d, want 0", v)
		}
	})

	t.Run("BumpsOnlyOnChanges", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.ensureOrg(t, "org_b")
		wantVersion := func(tb testing.TB, org string, want int64, after string) {
			tb.Helper()
			if got := e.entitlement(tb, org).Version; got != want {
				tb.Fatalf("%s: version of %s = %d, want %d", after, org, got, want)
			}
		}
		wantOutcome := func(tb testing.TB, res billing.EventResult, want billing.EventOutcome) {
			tb.Helper()
			if res.Outcome != want {
				tb.Fatalf("outcome = %s, want %s", res.Outcome, want)
			}
		}

		created := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		wantOutcome(t, e.handle(t, created), billing.OutcomeApplied)
		wantVersion(t, "org_a", 1, "first write")

		wantOutcome(t, e.handle(t, created), billing.OutcomeDuplicate)
		wantVersion(t, "org_a", 1, "duplicate event")

		updated := subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(time.Minute))
		updated.Subscription.Quantity = 2
		wantOutcome(t, e.handle(t, updated), billing.OutcomeApplied)
		wantVersion(t, "org_a", 2, "update")

		stale := subEvent("evt_0", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusTrialing, t0.Add(-time.Minute))
		wantOutcome(t, e.handle(t, stale), billing.OutcomeStale)
		wantVersion(t, "org_a", 2, "stale event")

		wantOutcome(t, e.apply(t, *updated.Subscription, t0.Add(time.Hour)), billing.OutcomeUnchanged)
		wantVersion(t, "org_a", 2, "unchanged reconcile")

		// Another subscription of the org is stored, but the current one still
		// outranks it: the entitlement is written as it was, so no bump.
		other := subEvent("evt_3", billing.EventSubscriptionDeleted, "org_a", "sub_other", billing.StatusCanceled, t0.Add(2*time.Minute))
		wantOutcome(t, e.handle(t, other), billing.OutcomeApplied)
		wantVersion(t, "org_a", 2, "a subscription that changes nothing")

		moved := fetched("org_b", "sub_1", billing.StatusActive)
		res := e.apply(t, moved, t0.Add(2*time.Hour))
		if res.Outcome != billing.OutcomeApplied || res.MovedFromOrgID != "org_a" {
			t.Fatalf("result = %+v, want applied, moved from org_a", res)
		}
		wantVersion(t, "org_a", 3, "move away")
		wantVersion(t, "org_b", 1, "move in")
	})

	t.Run("IsPartOfTheETag", func(t *testing.T) {
		a := billing.EntitlementView{OrgID: "org_a", Version: 1}
		b := a
		b.Version = 2
		if a.ETag() == b.ETag() {
			t.Fatal("views differing only in version have the same ETag")
		}
	})
}
