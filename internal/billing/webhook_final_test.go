package billing_test

import (
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// Final is final: canceled and incomplete_expired absorb, and an event that
// ends a subscription wins whatever its time (SPEC §5).
func TestHandleEvent_FinalIsFinal(t *testing.T) {
	t.Run("DeletedSubscriptionIsNeverResurrected", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_del", billing.EventSubscriptionDeleted, "org_a", "sub_1", billing.StatusCanceled, t0))
		// Even an event stamped later (a clock skew or a replay) cannot revive it.
		res := e.handle(t, subEvent("evt_upd", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(time.Hour)))
		if res.Outcome != billing.OutcomeStale {
			t.Fatalf("outcome = %s, want stale", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Status != billing.StatusCanceled {
			t.Fatalf("entitlement = %s/%s, want free/canceled", got.Plan, got.Status)
		}
	})

	t.Run("DeletionDatedBeforeTheStoredStateWins", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_upd", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(2*time.Second)))
		if res := e.handle(t, subEvent("evt_del", billing.EventSubscriptionDeleted, "org_a", "sub_1", billing.StatusCanceled, t0)); res.Outcome != billing.OutcomeApplied {
			t.Fatalf("older deletion outcome = %s, want applied", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Status != billing.StatusCanceled || got.Active {
			t.Fatalf("entitlement = %s/%s active=%t, want free/canceled", got.Plan, got.Status, got.Active)
		}
	})

	t.Run("EndingStatusWinsWhateverItsTimeAndAbsorbs", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_inc", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusIncomplete, t0.Add(5*time.Second)))
		// An update, not a deletion, whose status ends the subscription.
		if res := e.handle(t, subEvent("evt_exp", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusIncompleteExpired, t0)); res.Outcome != billing.OutcomeApplied {
			t.Fatalf("incomplete_expired outcome = %s, want applied", res.Outcome)
		}
		if res := e.handle(t, subEvent("evt_act", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(time.Hour))); res.Outcome != billing.OutcomeStale {
			t.Fatalf("later active outcome = %s, want stale", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Status != billing.StatusIncompleteExpired {
			t.Fatalf("entitlement = %s/%s, want free/incomplete_expired", got.Plan, got.Status)
		}
	})

	t.Run("EndingEventInTheSameSecondNeedsNoStripeCall", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_upd", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0))
		e.payments.ResetCalls()
		e.payments.Fail = &billing.Error{Code: billing.EUpstream, Message: "Stripe request failed"}
		if res := e.handle(t, subEvent("evt_del", billing.EventSubscriptionDeleted, "org_a", "sub_1", billing.StatusCanceled, t0)); res.Outcome != billing.OutcomeApplied {
			t.Fatalf("outcome = %s, want applied", res.Outcome)
		}
		if calls := e.payments.Calls(); len(calls) != 0 {
			t.Fatalf("stripe calls = %v, want none: an ending needs no tie-break", calls)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusCanceled {
			t.Fatalf("status = %s, want canceled", got.Status)
		}
	})
}
