package billing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// permutations returns every order of n items as index slices.
func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestEventOrderMatrix delivers the same set of events in every order and
// checks that each order ends in the same state, on both databases.
func TestEventOrderMatrix(t *testing.T) {
	type step struct {
		typ    string
		status billing.Status
		at     time.Duration // Stripe's created time, after t0
	}
	cases := []struct {
		name       string
		steps      []step
		wantPlan   string
		wantStatus billing.Status
		wantOrders int
	}{
		{
			name: "TrialActivePastDueDeletedEndsCanceled",
			steps: []step{
				{billing.EventSubscriptionCreated, billing.StatusTrialing, 0},
				{billing.EventSubscriptionUpdated, billing.StatusActive, time.Second},
				{billing.EventSubscriptionUpdated, billing.StatusPastDue, 2 * time.Second},
				{billing.EventSubscriptionDeleted, billing.StatusCanceled, 3 * time.Second},
			},
			wantPlan: billing.FreePlan, wantStatus: billing.StatusCanceled, wantOrders: 24,
		},
		{
			name: "ActivePastDueActiveEndsActive",
			steps: []step{
				{billing.EventSubscriptionCreated, billing.StatusActive, 0},
				{billing.EventSubscriptionUpdated, billing.StatusPastDue, time.Second},
				{billing.EventSubscriptionUpdated, billing.StatusActive, 2 * time.Second},
			},
			wantPlan: "pro", wantStatus: billing.StatusActive, wantOrders: 6,
		},
		{
			// Real event sets from Stripe date a deletion before a later update.
			name: "DeletionDatedBeforeCreatedAndUpdatedEndsCanceled",
			steps: []step{
				{billing.EventSubscriptionDeleted, billing.StatusCanceled, 0},
				{billing.EventSubscriptionCreated, billing.StatusActive, time.Second},
				{billing.EventSubscriptionUpdated, billing.StatusActive, 2 * time.Second},
			},
			wantPlan: billing.FreePlan, wantStatus: billing.StatusCanceled, wantOrders: 6,
		},
		{
			name: "DeletedAndUpdatedInOneSecondEndsCanceled",
			steps: []step{
				{billing.EventSubscriptionDeleted, billing.StatusCanceled, 0},
				{billing.EventSubscriptionUpdated, billing.StatusActive, 0},
			},
			wantPlan: billing.FreePlan, wantStatus: billing.StatusCanceled, wantOrders: 2,
		},
	}
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				orders := permutations(len(tc.steps))
				if len(orders) != tc.wantOrders {
					t.Fatalf("%d orders, want %d", len(orders), tc.wantOrders)
				}
				first := ""
				for n, order := range orders {
					org := fmt.Sprintf("org_%s_%d", tc.name, n)
					e.ensureOrg(t, org)
					events := make([]billing.Event, len(tc.steps))
					for i, s := range tc.steps {
						events[i] = subEvent(fmt.Sprintf("evt_%s_%d", org, i), s.typ, org, "sub_"+org, s.status, t0.Add(s.at))
					}
					var names []string
					for _, i := range order {
						e.handle(t, events[i])
						names = append(names, fmt.Sprintf("%s(%s)", strings.TrimPrefix(events[i].Type, "customer.subscription."), events[i].Subscription.Status))
					}
					got := e.entitlement(t, org)
					if got.Plan != tc.wantPlan || got.Status != tc.wantStatus {
						t.Errorf("order %v: plan/status = %s/%s, want %s/%s", names, got.Plan, got.Status, tc.wantPlan, tc.wantStatus)
					}
					// Not only plan and status: everything a client sees, and the
					// time later events are judged against, is the same.
					state := e.endState(t, org)
					e.mustReportEachChange(t, org)
					if first == "" {
						first = state
					} else if state != first {
						t.Errorf("order %v ends in\n%s\nwant (as the first order)\n%s", names, state, first)
					}
				}
			})
		}
	})
}

// endState describes what an org's events left behind, leaving out what
// names the org or says when it was written.
func (e *env) endState(tb testing.TB, org string) string {
	tb.Helper()
	v := e.entitlement(tb, org)
	stored, err := e.store.Entitlement(context.Background(), org)
	if err != nil {
		tb.Fatalf("stored entitlement of %s: %v", org, err)
	}
	return fmt.Sprintf("plan=%s status=%s active=%t seats=%d features=%v trialEnd=%s periodEnd=%s cancelAtPeriodEnd=%t cancelAt=%s eventCreated=%s",
		v.Plan, v.Status, v.Active, v.Seats, v.Features, fmtTime(v.TrialEnd), fmtTime(v.CurrentPeriodEnd),
		v.CancelAtPeriodEnd, fmtTime(v.CancelAt), stored.EventCreated.Format(time.RFC3339))
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.UTC().Format(time.RFC3339)
}

func TestHandleEvent_OrderIndependent(t *testing.T) {
	t.Run("EqualTimestampsFetchStripe", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		truth := *subEvent("", "", "org_a", "sub_1", billing.StatusPastDue, t0).Subscription
		e.payments.SetSubscription(truth)
		e.payments.ResetCalls()
		// Same second, claims active: only Stripe can say which is newer.
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0))
		if calls := e.payments.Calls(); len(calls) != 1 || calls[0] != "subscriptions.retrieve" {
			t.Fatalf("stripe calls = %v, want one subscriptions.retrieve", calls)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusPastDue {
			t.Fatalf("status = %s, want Stripe's past_due", got.Status)
		}
	})

	t.Run("OlderEventNeverOverwritesNewer", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(time.Minute)))
		res := e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if res.Outcome != billing.OutcomeStale {
			t.Fatalf("outcome = %s, want stale", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusPastDue {
			t.Fatalf("status = %s, want past_due", got.Status)
		}
	})

	t.Run("OtherSubscriptionReplacesOnlyWhenItGrantsOrCurrentDoesNot", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_a1", billing.EventSubscriptionCreated, "org_a", "sub_a", billing.StatusActive, t0))
		// A newer event for an old, canceled subscription must not take over.
		e.handle(t, subEvent("evt_b1", billing.EventSubscriptionDeleted, "org_a", "sub_b", billing.StatusCanceled, t0.Add(time.Hour)))
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" || got.Status != billing.StatusActive {
			t.Fatalf("after other sub canceled: %s/%s, want pro/active", got.Plan, got.Status)
		}
		// When the current one stops granting, another that grants takes over.
		e.handle(t, subEvent("evt_a2", billing.EventSubscriptionDeleted, "org_a", "sub_a", billing.StatusCanceled, t0.Add(2*time.Hour)))
		e.handle(t, subEvent("evt_c1", billing.EventSubscriptionCreated, "org_a", "sub_c", billing.StatusTrialing, t0.Add(time.Minute)))
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusTrialing || got.Plan != "pro" {
			t.Fatalf("after current canceled and another trialing: %s/%s, want pro/trialing", got.Plan, got.Status)
		}
	})
}
