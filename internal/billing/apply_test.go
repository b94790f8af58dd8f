package billing_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
)

// fetched is a subscription as Stripe's API returns it for org's Customer.
func fetched(org, subID string, status billing.Status) billing.Subscription {
	end := t0.Add(30 * 24 * time.Hour)
	return billing.Subscription{
		ID: subID, CustomerID: "cus_" + org, MetadataOrgID: org, Status: status, PriceID: "price_pro_monthly",
		LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 1, CurrentPeriodEnd: &end,
	}
}

func (e *env) apply(tb testing.TB, sub billing.Subscription, fetchedAt time.Time) billing.EventResult {
	tb.Helper()
	res, err := e.svc.ApplyStripeSubscription(context.Background(), sub, fetchedAt)
	if err != nil {
		tb.Fatalf("ApplyStripeSubscription(%s): %v", sub.ID, err)
	}
	return res
}

// Reconcile applies subscriptions fetched from Stripe under the rules events
// follow (SPEC §8).
func TestApplyStripeSubscription(t *testing.T) {
	t.Run("AppliesAMissingSubscriptionWithoutRecordingAnEvent", func(t *testing.T) {
		writes := countWrites(storetest.OpenSQLite(t))
		e := newEnv(t, writes)
		e.withCustomer(t, "org_a", "cus_org_a")
		sub := fetched("", "sub_1", billing.StatusActive) // no metadata: found by its Customer
		sub.CustomerID = "cus_org_a"
		woken, stop := e.notifier.Subscribe("org_a")
		defer stop()
		if res := e.apply(t, sub, t0); res.Outcome != billing.OutcomeApplied || res.OrgID != "org_a" {
			t.Fatalf("result = %+v, want applied to org_a", res)
		}
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" || !got.Active {
			t.Fatalf("entitlement = %s, want pro", got.Plan)
		}
		select {
		case <-woken:
		default:
			t.Fatal("long-polls of org_a were not woken")
		}
		if n := writes.count("RecordEvent"); n != 0 {
			t.Fatalf("%d stripe events recorded, want none", n)
		}
	})

	t.Run("SecondRunWritesNothing", func(t *testing.T) {
		writes := countWrites(storetest.OpenSQLite(t))
		e := newEnv(t, writes)
		e.ensureOrg(t, "org_a")
		sub := fetched("org_a", "sub_1", billing.StatusActive)
		e.apply(t, sub, t0)
		first := e.entitlement(t, "org_a")
		writes.reset()
		if res := e.apply(t, sub, t0.Add(15*time.Minute)); res.Outcome != billing.OutcomeUnchanged {
			t.Fatalf("second run outcome = %s, want unchanged", res.Outcome)
		}
		if n := writes.total(); n != 0 {
			t.Fatalf("second run wrote %d times, want nothing", n)
		}
		if got := e.entitlement(t, "org_a"); got.ETag() != first.ETag() {
			t.Fatal("the entitlement's ETag changed although nothing did")
		}
	})

	t.Run("EqualToAStateAnEventWroteIsUnchanged", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0)
		e.handle(t, ev)
		if res := e.apply(t, *ev.Subscription, t0.Add(time.Hour)); res.Outcome != billing.OutcomeUnchanged {
			t.Fatalf("outcome = %s, want unchanged", res.Outcome)
		}
	})

	t.Run("NeverResurrectsACanceledSubscription", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_del", billing.EventSubscriptionDeleted, "org_a", "sub_1", billing.StatusCanceled, t0))
		if res := e.apply(t, fetched("org_a", "sub_1", billing.StatusActive), t0.Add(time.Hour)); res.Outcome != billing.OutcomeStale {
			t.Fatalf("outcome = %s, want stale", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Active || got.Status != billing.StatusCanceled {
			t.Fatalf("entitlement = %s/%s, want free/canceled", got.Plan, got.Status)
		}
	})

	t.Run("MovesTheSubscriptionWhenMetadataNamesAnotherOrg", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.ensureOrg(t, "org_b")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		e.entitlement(t, "org_a") // cached: the move must wake (and refresh) org_a too
		res := e.apply(t, fetched("org_b", "sub_1", billing.StatusActive), t0.Add(time.Hour))
		if res.Outcome != billing.OutcomeApplied || res.OrgID != "org_b" || res.MovedFromOrgID != "org_a" {
			t.Fatalf("result = %+v, want applied to org_b, moved from org_a", res)
		}
		if a, b := e.entitlement(t, "org_a"), e.entitlement(t, "org_b"); a.Active || b.Plan != "pro" {
			t.Fatalf("org_a = %s, org_b = %s; want free and pro", a.Plan, b.Plan)
		}
	})

	t.Run("OlderThanAStoredEventIsStale", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		// An event newer than the fetch arrived while reconcile ran.
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(time.Minute)))
		if res := e.apply(t, fetched("org_a", "sub_1", billing.StatusActive), t0); res.Outcome != billing.OutcomeStale {
			t.Fatalf("outcome = %s, want stale", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusPastDue {
			t.Fatalf("status = %s, want the newer event's past_due", got.Status)
		}
	})

	t.Run("InTheSecondOfTheStoredEventItIsAuthoritative", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0))
		e.payments.ResetCalls()
		res := e.apply(t, fetched("org_a", "sub_1", billing.StatusPastDue), t0.Add(700*time.Millisecond))
		if res.Outcome != billing.OutcomeApplied {
			t.Fatalf("outcome = %s, want applied", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusPastDue {
			t.Fatalf("status = %s, want Stripe's past_due", got.Status)
		}
		if calls := e.payments.Calls(); len(calls) != 0 {
			t.Fatalf("stripe calls = %v: the fetched state needs no second fetch", calls)
		}
	})

	t.Run("AnEndingWinsButNeverMovesTheStoredTimeBack", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		stamped := t0.Add(time.Hour) // an event stamped after the fetch (clock skew)
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, stamped))
		if res := e.apply(t, fetched("org_a", "sub_1", billing.StatusCanceled), t0); res.Outcome != billing.OutcomeApplied {
			t.Fatalf("outcome = %s, want applied", res.Outcome)
		}
		st, err := e.store.Subscription(context.Background(), "sub_1")
		if err != nil || st.Status != billing.StatusCanceled || !st.EventCreated.Equal(stamped) {
			t.Fatalf("stored = %s at %v (%v), want canceled at %v", st.Status, st.EventCreated, err, stamped)
		}
	})

	t.Run("UnknownOrgWritesNothing", func(t *testing.T) {
		e := newSQLiteEnv(t)
		if res := e.apply(t, fetched("org_ghost", "sub_1", billing.StatusActive), t0); res.Outcome != billing.OutcomeUnknownOrg {
			t.Fatalf("outcome = %s, want unknown_org", res.Outcome)
		}
		_, err := e.store.Subscription(context.Background(), "sub_1")
		mustNotFound(t, err, "subscription of an unknown org")
	})
}

// writeCountingStore counts the writes of what billingd derives (events,
// subscriptions, entitlements) made through it, in transactions too.
type writeCountingStore struct {
	billing.Store
	c *writeCounts
}

type writeCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func countWrites(st billing.Store) *writeCountingStore {
	return &writeCountingStore{Store: st, c: &writeCounts{n: map[string]int{}}}
}

func (s *writeCountingStore) add(op string) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.n[op]++
}

func (s *writeCountingStore) count(op string) int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.n[op]
}

func (s *writeCountingStore) total() int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	n := 0
	for _, c := range s.c.n {
		n += c
	}
	return n
}

func (s *writeCountingStore) reset() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	clear(s.c.n)
}

func (s *writeCountingStore) InTx(ctx context.Context, fn func(billing.Store) error) error {
	return s.Store.InTx(ctx, func(tx billing.Store) error {
		return fn(&writeCountingStore{Store: tx, c: s.c})
	})
}

func (s *writeCountingStore) RecordEvent(ctx context.Context, ev billing.EventRecord) error {
	s.add("RecordEvent")
	return s.Store.RecordEvent(ctx, ev)
}

func (s *writeCountingStore) SetEventOutcome(ctx context.Context, id, orgID string, outcome billing.EventOutcome) error {
	s.add("SetEventOutcome")
	return s.Store.SetEventOutcome(ctx, id, orgID, outcome)
}

func (s *writeCountingStore) SaveSubscription(ctx context.Context, st billing.SubscriptionState) error {
	s.add("SaveSubscription")
	return s.Store.SaveSubscription(ctx, st)
}

func (s *writeCountingStore) SaveEntitlement(ctx context.Context, ent billing.Entitlement) error {
	s.add("SaveEntitlement")
	return s.Store.SaveEntitlement(ctx, ent)
}
