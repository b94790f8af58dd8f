package billing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
				{billing.EventSubscriptionCreated, billing.StatusTrialing},
				{billing.EventSubscriptionUpdated, billing.StatusActive},
				{billing.EventSubscriptionUpdated, billing.StatusPastDue},
				{billing.EventSubscriptionDeleted, billing.StatusCanceled},
			},
			wantPlan: billing.FreePlan, wantStatus: billing.StatusCanceled, wantOrders: 24,
		},
		{
			name: "ActivePastDueActiveEndsActive",
			steps: []step{
				{billing.EventSubscriptionCreated, billing.StatusActive},
				{billing.EventSubscriptionUpdated, billing.StatusPastDue},
				{billing.EventSubscriptionUpdated, billing.StatusActive},
			},
			wantPlan: "pro", wantStatus: billing.StatusActive, wantOrders: 6,
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
				for n, order := range orders {
					org := fmt.Sprintf("org_%s_%d", tc.name, n)
					e.ensureOrg(t, org)
					events := make([]billing.Event, len(tc.steps))
					for i, s := range tc.steps {
						// One second apart, as Stripe stamps them, in causal order.
						events[i] = subEvent(fmt.Sprintf("evt_%s_%d", org, i), s.typ, org, "sub_"+org, s.status, t0.Add(time.Duration(i)*time.Second))
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
				}
			})
		}
	})
}

func TestHandleEvent(t *testing.T) {
	t.Run("CreatedActiveGrantsPlan", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		res := e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if res.Outcome != billing.OutcomeApplied {
			t.Fatalf("outcome = %s, want applied", res.Outcome)
		}
		got := e.entitlement(t, "org_a")
		if got.Plan != "pro" || got.Status != billing.StatusActive || !got.Active || got.Seats != 1 || len(got.Features) == 0 {
			t.Fatalf("entitlement = %+v, want active pro with features and 1 seat", got)
		}
		if got.CurrentPeriodEnd == nil || !got.CurrentPeriodEnd.Equal(t0.Add(30*24*time.Hour)) {
			t.Fatalf("currentPeriodEnd = %v", got.CurrentPeriodEnd)
		}
	})

	t.Run("DuplicateHasNoSecondEffect", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		e.handle(t, ev)
		// A later event, then the first one again: the redelivery must not undo it.
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(time.Second)))
		res := e.handle(t, ev)
		if !res.Duplicate() {
			t.Fatalf("redelivery outcome = %s, want duplicate", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusPastDue {
			t.Fatalf("after redelivery status = %s, want past_due kept", got.Status)
		}
	})

	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		t.Run("TenConcurrentDuplicatesHaveOneEffect", func(t *testing.T) {
			e := newEnv(t, st)
			e.ensureOrg(t, "org_conc")
			ev := subEvent("evt_conc", billing.EventSubscriptionCreated, "org_conc", "sub_conc", billing.StatusActive, t0)
			var wg sync.WaitGroup
			results := make([]billing.EventResult, 10)
			errs := make([]error, 10)
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = e.svc.HandleEvent(context.Background(), ev)
				}()
			}
			wg.Wait()
			applied, dup := 0, 0
			for i := range 10 {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				switch results[i].Outcome {
				case billing.OutcomeApplied:
					applied++
				case billing.OutcomeDuplicate:
					dup++
				}
			}
			if applied != 1 || dup != 9 {
				t.Fatalf("applied=%d duplicate=%d, want 1 and 9", applied, dup)
			}
			if got := e.entitlement(t, "org_conc"); got.Plan != "pro" {
				t.Fatalf("plan = %s, want pro", got.Plan)
			}
		})
	})

	t.Run("RedeliveryNeverCallsStripe", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		e.handle(t, ev)
		e.payments.ResetCalls()
		// Stripe is down: a redelivery must still be acknowledged as a duplicate.
		e.payments.Fail = &billing.Error{Code: billing.EUpstream, Message: "Stripe request failed"}
		if res := e.handle(t, ev); !res.Duplicate() {
			t.Fatalf("outcome = %s, want duplicate", res.Outcome)
		}
		if calls := e.payments.Calls(); len(calls) != 0 {
			t.Fatalf("redelivery called Stripe: %v", calls)
		}
	})

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

	t.Run("PlanByPriceIDWhenPriceHasNoLookupKey", func(t *testing.T) {
		e := newSQLiteEnv(t) // a fresh process: nothing resolved yet
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		ev.Subscription.LookupKey, ev.Subscription.PriceID = "", "price_team_yearly"
		e.handle(t, ev)
		if got := e.entitlement(t, "org_a"); got.Plan != "team" {
			t.Fatalf("plan = %s, want team (by the catalog's price id)", got.Plan)
		}
		// The prices are now known: a later event costs no Stripe call.
		e.payments.ResetCalls()
		next := subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(time.Second))
		next.Subscription.LookupKey, next.Subscription.PriceID = "", "price_team_yearly"
		e.handle(t, next)
		if calls := e.payments.Calls(); len(calls) != 0 {
			t.Fatalf("stripe calls = %v, want none once the prices are known", calls)
		}
	})

	t.Run("PastDueWithoutGraceIsFree", func(t *testing.T) {
		e := newSQLiteEnv(t, func(o *billing.Options) { o.Access.PastDueAccess = false })
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0))
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Active {
			t.Fatalf("past_due without grace: plan %s active %t, want free", got.Plan, got.Active)
		}
	})

	t.Run("OrgFromCustomerWhenNoMetadata", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		if _, err := e.store.SetCustomerID(context.Background(), "org_a", "cus_known"); err != nil {
			t.Fatal(err)
		}
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "", "sub_1", billing.StatusActive, t0)
		ev.Subscription.CustomerID = "cus_known"
		if res := e.handle(t, ev); res.OrgID != "org_a" || res.Outcome != billing.OutcomeApplied {
			t.Fatalf("result = %+v, want applied to org_a", res)
		}
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" {
			t.Fatalf("plan = %s, want pro", got.Plan)
		}
	})

	t.Run("UnknownOrgIsRecordedAndAcknowledged", func(t *testing.T) {
		e := newSQLiteEnv(t)
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_ghost", "sub_1", billing.StatusActive, t0)
		if res := e.handle(t, ev); res.Outcome != billing.OutcomeUnknownOrg {
			t.Fatalf("outcome = %s, want unknown_org", res.Outcome)
		}
		if res := e.handle(t, ev); !res.Duplicate() {
			t.Fatalf("redelivery outcome = %s, want duplicate (it was recorded)", res.Outcome)
		}
		_, err := e.store.Entitlement(context.Background(), "org_ghost")
		mustNotFound(t, err, "entitlement of unknown org")
	})

	t.Run("DatabaseFailureWritesNothing", func(t *testing.T) {
		st := storetest.OpenSQLite(t)
		failing := &failingStore{Store: st, failSaveEntitlement: true}
		e := newEnv(t, failing)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		if _, err := e.svc.HandleEvent(context.Background(), ev); err == nil {
			t.Fatal("HandleEvent succeeded although the database failed")
		}
		_, err := st.Subscription(context.Background(), "sub_1")
		mustNotFound(t, err, "subscription after failed transaction")
		// Stripe retries; now the database works and the event applies.
		failing.failSaveEntitlement = false
		if res := e.handle(t, ev); res.Outcome != billing.OutcomeApplied {
			t.Fatalf("retry outcome = %s, want applied (event must not have been recorded)", res.Outcome)
		}
	})

	t.Run("CheckoutCompletedLinksSessionAndCustomer", func(t *testing.T) {
		e := newSQLiteEnv(t)
		res, err := e.svc.StartCheckout(context.Background(), caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		if err != nil {
			t.Fatal(err)
		}
		done := billing.Event{ID: "evt_cs", Type: billing.EventCheckoutCompleted, Created: t0, Checkout: &billing.CheckoutObject{
			ID: res.SessionID, ClientReferenceID: "org_a", OrgID: "org_a", CustomerID: "cus_fake1", SubscriptionID: "sub_1",
			Status: billing.CheckoutComplete, PaymentStatus: "paid",
		}}
		e.handle(t, done)
		cv, err := e.svc.CheckoutSession(context.Background(), "org_a", res.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		if cv.Status != billing.CheckoutComplete || cv.SubscriptionID != "sub_1" || cv.EntitlementReady {
			t.Fatalf("session = %+v, want complete, linked to sub_1, not ready before the subscription event", cv)
		}
		e.handle(t, subEvent("evt_sub", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusTrialing, t0))
		if cv, _ = e.svc.CheckoutSession(context.Background(), "org_a", res.SessionID); !cv.EntitlementReady {
			t.Fatal("session not ready after its subscription granted access")
		}
		// A late expired event cannot reopen or expire a completed session.
		late := billing.Event{ID: "evt_exp", Type: billing.EventCheckoutExpired, Created: t0.Add(time.Hour), Checkout: &billing.CheckoutObject{ID: res.SessionID, OrgID: "org_a"}}
		if r := e.handle(t, late); r.Outcome != billing.OutcomeStale {
			t.Fatalf("late expired outcome = %s, want stale", r.Outcome)
		}
	})

	t.Run("InvoicesKeepPaymentHistory", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		inv := func(id, typ, status string, created time.Time) billing.Event {
			return billing.Event{ID: id, Type: typ, Created: created, Invoice: &billing.InvoiceObject{
				ID: "in_1", OrgID: "org_a", SubscriptionID: "sub_1", AmountDue: 1500, AmountPaid: 1500, Currency: "usd", Status: status, Created: t0,
			}}
		}
		e.handle(t, inv("evt_paid", billing.EventInvoicePaid, "paid", t0.Add(time.Minute)))
		if r := e.handle(t, inv("evt_failed", billing.EventInvoicePaymentFailed, "open", t0)); r.Outcome != billing.OutcomeStale {
			t.Fatalf("older payment_failed outcome = %s, want stale", r.Outcome)
		}
		p, err := e.store.Payment(context.Background(), "in_1")
		if err != nil || p.Status != "paid" || p.AmountPaid != 1500 || p.Currency != "usd" {
			t.Fatalf("payment = %+v, %v; want paid 1500 usd", p, err)
		}
	})

	t.Run("PausedIsFreeAndResumedGrantsAgain", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionPaused, "org_a", "sub_1", billing.StatusPaused, t0.Add(time.Second)))
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Status != billing.StatusPaused {
			t.Fatalf("paused: %s/%s, want free/paused", got.Plan, got.Status)
		}
		e.handle(t, subEvent("evt_3", billing.EventSubscriptionResumed, "org_a", "sub_1", billing.StatusActive, t0.Add(2*time.Second)))
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" || got.Status != billing.StatusActive {
			t.Fatalf("resumed: %s/%s, want pro/active", got.Plan, got.Status)
		}
	})

	t.Run("EveryCheckoutAndInvoiceTypeApplies", func(t *testing.T) {
		cases := []struct {
			typ        string
			wantStatus billing.CheckoutStatus
		}{
			{billing.EventCheckoutCompleted, billing.CheckoutComplete},
			{billing.EventCheckoutAsyncSucceeded, billing.CheckoutComplete},
			{billing.EventCheckoutAsyncFailed, billing.CheckoutComplete},
			{billing.EventCheckoutExpired, billing.CheckoutExpired},
		}
		for _, tc := range cases {
			t.Run(tc.typ, func(t *testing.T) {
				e := newSQLiteEnv(t)
				e.ensureOrg(t, "org_a")
				ev := billing.Event{ID: "evt_" + tc.typ, Type: tc.typ, Created: t0, Checkout: &billing.CheckoutObject{ID: "cs_1", OrgID: "org_a"}}
				if r := e.handle(t, ev); r.Outcome != billing.OutcomeApplied {
					t.Fatalf("outcome = %s, want applied", r.Outcome)
				}
				cs, err := e.store.CheckoutSession(context.Background(), "cs_1")
				if err != nil || cs.Status != tc.wantStatus || cs.OrgID != "org_a" {
					t.Fatalf("session = %+v, %v; want %s for org_a", cs, err, tc.wantStatus)
				}
			})
		}
		for _, typ := range []string{billing.EventInvoicePaid, billing.EventInvoicePaymentSucceeded, billing.EventInvoicePaymentFailed} {
			t.Run(typ, func(t *testing.T) {
				e := newSQLiteEnv(t)
				e.ensureOrg(t, "org_a")
				ev := billing.Event{ID: "evt_" + typ, Type: typ, Created: t0, Invoice: &billing.InvoiceObject{ID: "in_1", OrgID: "org_a", AmountDue: 1500, Currency: "usd", Status: "paid"}}
				if r := e.handle(t, ev); r.Outcome != billing.OutcomeApplied {
					t.Fatalf("outcome = %s, want applied", r.Outcome)
				}
				if _, err := e.store.Payment(context.Background(), "in_1"); err != nil {
					t.Fatalf("payment not stored: %v", err)
				}
			})
		}
	})

	t.Run("TrialWillEndIsOnlyLogged", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(time.Hour)))
		// It carries the subscription as it was days before the trial ended.
		e.handle(t, subEvent("evt_2", billing.EventTrialWillEnd, "org_a", "sub_1", billing.StatusTrialing, t0.Add(2*time.Hour)))
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusActive {
			t.Fatalf("status = %s, want active untouched", got.Status)
		}
	})

	t.Run("OtherTypesAreRecorded", func(t *testing.T) {
		e := newSQLiteEnv(t)
		ev := billing.Event{ID: "evt_x", Type: "product.created", Created: t0}
		if r := e.handle(t, ev); r.Outcome != billing.OutcomeIgnored {
			t.Fatalf("outcome = %s, want ignored", r.Outcome)
		}
		if r := e.handle(t, ev); !r.Duplicate() {
			t.Fatalf("redelivery = %s, want duplicate", r.Outcome)
		}
	})
}

// failingStore makes SaveEntitlement fail inside transactions.
type failingStore struct {
	billing.Store
	failSaveEntitlement bool
}

func (f *failingStore) InTx(ctx context.Context, fn func(billing.Store) error) error {
	return f.Store.InTx(ctx, func(tx billing.Store) error {
		return fn(&failingStore{Store: tx, failSaveEntitlement: f.failSaveEntitlement})
	})
}

func (f *failingStore) SaveEntitlement(ctx context.Context, e billing.Entitlement) error {
	if f.failSaveEntitlement {
		return errors.New("database is down")
	}
	return f.Store.SaveEntitlement(ctx, e)
}
