package billing_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// An event's org is its object's metadata.organization_id, else its
// Customer's (SPEC §5).
func TestHandleEvent_OrgResolution(t *testing.T) {
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

	t.Run("MetadataWinsOverTheCustomersOrgWithAWarning", func(t *testing.T) {
		logs := &logRecorder{}
		e := newSQLiteEnv(t, withLogs(logs))
		e.withCustomer(t, "org_a", "cus_shared")
		e.ensureOrg(t, "org_b")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_b", "sub_1", billing.StatusActive, t0)
		ev.Subscription.CustomerID = "cus_shared"
		if res := e.handle(t, ev); res.OrgID != "org_b" || res.Outcome != billing.OutcomeApplied {
			t.Fatalf("result = %+v, want applied to org_b (metadata)", res)
		}
		if !logs.warned("metadata names another organization", map[string]string{"metadata_org": "org_b", "customer_org": "org_a"}) {
			t.Fatal("no warning that metadata and the Customer's org disagree")
		}
		if got := e.entitlement(t, "org_a"); got.Active {
			t.Fatalf("org_a = %s, want nothing granted to the Customer's org", got.Plan)
		}
	})

	t.Run("StoredSubscriptionStaysWhenNothingNamesAnOrg", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		// Metadata removed at Stripe and a Customer billingd never linked:
		// the deletion still reaches the org that has the subscription.
		del := subEvent("evt_2", billing.EventSubscriptionDeleted, "", "sub_1", billing.StatusCanceled, t0.Add(time.Hour))
		del.Subscription.CustomerID = "cus_unlinked"
		if res := e.handle(t, del); res.OrgID != "org_a" || res.Outcome != billing.OutcomeApplied {
			t.Fatalf("result = %+v, want applied to org_a", res)
		}
		if got := e.entitlement(t, "org_a"); got.Active || got.Status != billing.StatusCanceled {
			t.Fatalf("org_a = %s/%s, want free/canceled", got.Plan, got.Status)
		}
	})
}

func TestHandleEvent_UnknownOrg(t *testing.T) {
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

	t.Run("UnlinkedCustomerWithoutMetadata", func(t *testing.T) {
		e := newSQLiteEnv(t)
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "", "sub_1", billing.StatusActive, t0)
		ev.Subscription.CustomerID = "cus_unlinked"
		if res := e.handle(t, ev); res.Outcome != billing.OutcomeUnknownOrg || res.OrgID != "" {
			t.Fatalf("result = %+v, want unknown_org naming none", res)
		}
		_, err := e.store.Subscription(context.Background(), "sub_1")
		mustNotFound(t, err, "subscription of no known org")
	})
}

// A subscription belongs to one org at a time (SPEC §5).
func TestHandleEvent_OneOrgPerSubscription(t *testing.T) {
	t.Run("MoveRederivesBothOrgsThenDeletionLeavesNeitherWithAccess", func(t *testing.T) {
		logs := &logRecorder{}
		e := newSQLiteEnv(t, withLogs(logs))
		e.ensureOrg(t, "org_a")
		e.ensureOrg(t, "org_b")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" {
			t.Fatalf("org_a = %s, want pro before the move", got.Plan)
		}

		res := e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_b", "sub_1", billing.StatusActive, t0.Add(time.Second)))
		if res.Outcome != billing.OutcomeApplied || res.OrgID != "org_b" || res.MovedFromOrgID != "org_a" {
			t.Fatalf("move result = %+v, want applied to org_b, moved from org_a", res)
		}
		if a, b := e.entitlement(t, "org_a"), e.entitlement(t, "org_b"); a.Active || a.Status != billing.StatusNone || b.Plan != "pro" {
			t.Fatalf("after the move org_a = %s/%s, org_b = %s; want org_a free/none, org_b pro", a.Plan, a.Status, b.Plan)
		}
		if !logs.warned("subscription moves to another organization", map[string]string{"from_org": "org_a", "org_id": "org_b"}) {
			t.Fatal("the move was not logged as a warning")
		}

		e.handle(t, subEvent("evt_3", billing.EventSubscriptionDeleted, "org_b", "sub_1", billing.StatusCanceled, t0.Add(2*time.Second)))
		for _, org := range []string{"org_a", "org_b"} {
			if got := e.entitlement(t, org); got.Active {
				t.Fatalf("after the deletion %s keeps %s", org, got.Plan)
			}
		}
	})

	t.Run("MoveAndDeletionInAnyOrderLeaveNeitherWithAccess", func(t *testing.T) {
		e := newSQLiteEnv(t)
		for n, order := range permutations(3) {
			a, b, sub := fmt.Sprintf("org_a%d", n), fmt.Sprintf("org_b%d", n), fmt.Sprintf("sub_%d", n)
			e.ensureOrg(t, a)
			e.ensureOrg(t, b)
			events := []billing.Event{
				subEvent(sub+"_created", billing.EventSubscriptionCreated, a, sub, billing.StatusActive, t0),
				subEvent(sub+"_moved", billing.EventSubscriptionUpdated, b, sub, billing.StatusActive, t0.Add(time.Second)),
				subEvent(sub+"_deleted", billing.EventSubscriptionDeleted, b, sub, billing.StatusCanceled, t0.Add(2*time.Second)),
			}
			for _, i := range order {
				e.handle(t, events[i])
			}
			if got := e.entitlement(t, a); got.Active || got.Status != billing.StatusNone {
				t.Errorf("order %v: %s = %s/%s, want free/none", order, a, got.Plan, got.Status)
			}
			if got := e.entitlement(t, b); got.Active || got.Status != billing.StatusCanceled {
				t.Errorf("order %v: %s = %s/%s, want free/canceled", order, b, got.Plan, got.Status)
			}
		}
	})

	t.Run("OlderEventNamingAnotherOrgMovesNothing", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.ensureOrg(t, "org_b")
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_b", "sub_1", billing.StatusActive, t0.Add(time.Second)))
		if res := e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)); res.Outcome != billing.OutcomeStale {
			t.Fatalf("outcome = %s, want stale", res.Outcome)
		}
		if a, b := e.entitlement(t, "org_a"), e.entitlement(t, "org_b"); a.Active || b.Plan != "pro" {
			t.Fatalf("org_a = %s, org_b = %s; want free and pro", a.Plan, b.Plan)
		}
	})

	t.Run("AnotherOrgBillingdDoesNotKnowMovesNothing", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		res := e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_ghost", "sub_1", billing.StatusActive, t0.Add(time.Second)))
		if res.Outcome != billing.OutcomeUnknownOrg || res.OrgID != "org_ghost" {
			t.Fatalf("result = %+v, want unknown_org naming org_ghost", res)
		}
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" {
			t.Fatalf("org_a = %s, want pro kept", got.Plan)
		}
	})

	// Events moving subscriptions both ways between two orgs lock both rows in
	// one order, so none deadlocks (PostgreSQL would abort one of them).
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		t.Run("CrossingMovesDoNotDeadlock", func(t *testing.T) {
			// Holding each lock a moment makes crossing lock orders meet.
			e := newEnv(t, &slowLockStore{Store: st, hold: 20 * time.Millisecond})
			e.ensureOrg(t, "org_x")
			e.ensureOrg(t, "org_y")
			const pairs = 10
			var moves []billing.Event
			for i := range pairs {
				toY, toX := fmt.Sprintf("sub_toy_%d", i), fmt.Sprintf("sub_tox_%d", i)
				e.handle(t, subEvent(toY+"_c", billing.EventSubscriptionCreated, "org_x", toY, billing.StatusActive, t0))
				e.handle(t, subEvent(toX+"_c", billing.EventSubscriptionCreated, "org_y", toX, billing.StatusActive, t0))
				moves = append(moves,
					subEvent(toY+"_m", billing.EventSubscriptionUpdated, "org_y", toY, billing.StatusActive, t0.Add(time.Second)),
					subEvent(toX+"_m", billing.EventSubscriptionUpdated, "org_x", toX, billing.StatusActive, t0.Add(time.Second)))
			}
			var wg sync.WaitGroup
			errs := make([]error, len(moves))
			for i, ev := range moves {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = e.svc.HandleEvent(context.Background(), ev)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("move %s: %v", moves[i].ID, err)
				}
			}
			for _, ev := range moves {
				got, err := st.Subscription(context.Background(), ev.Subscription.ID)
				if err != nil || got.OrgID != ev.Subscription.MetadataOrgID {
					t.Errorf("%s is with %q (%v), want %s", ev.Subscription.ID, got.OrgID, err, ev.Subscription.MetadataOrgID)
				}
			}
		})
	})
}

// slowLockStore holds on to each org lock it takes for a moment before going on.
type slowLockStore struct {
	billing.Store
	hold time.Duration
}

func (s *slowLockStore) InTx(ctx context.Context, fn func(billing.Store) error) error {
	return s.Store.InTx(ctx, func(tx billing.Store) error {
		return fn(&slowLockStore{Store: tx, hold: s.hold})
	})
}

func (s *slowLockStore) LockOrganization(ctx context.Context, id string) (billing.Organization, error) {
	org, err := s.Store.LockOrganization(ctx, id)
	time.Sleep(s.hold)
	return org, err
}
