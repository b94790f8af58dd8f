package billing_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store/storetest"
)

// countingStore counts entitlement reads that reach the database.
type countingStore struct {
	billing.Store
	reads atomic.Int64
}

func (s *countingStore) Entitlement(ctx context.Context, orgID string) (billing.Entitlement, error) {
	s.reads.Add(1)
	return s.Store.Entitlement(ctx, orgID)
}

// manualClock is a clock the test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// activeBehindTheCache writes an active Pro entitlement straight to the store,
// as another replica would whose notification never arrived.
func activeBehindTheCache(t *testing.T, st billing.Store, org string) {
	t.Helper()
	err := st.SaveEntitlement(context.Background(), billing.Entitlement{
		OrgID: org, SubscriptionPlan: "pro", Status: billing.StatusActive, SubscriptionID: "sub_" + org, Seats: 1,
		EventCreated: t0, UpdatedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEntitlementCache(t *testing.T) {
	const ttl = time.Second
	setup := func(t *testing.T) (*env, *countingStore, *manualClock) {
		st := &countingStore{Store: storetest.OpenSQLite(t)}
		clock := &manualClock{now: time.Now()}
		e := newEnv(t, st, func(o *billing.Options) { o.Now, o.EntitlementCacheTTL = clock.Now, ttl })
		return e, st, clock
	}

	t.Run("RepeatedReadsCostOneQuery", func(t *testing.T) {
		e, st, _ := setup(t)
		for range 5 {
			e.entitlement(t, "org_a")
		}
		if got := st.reads.Load(); got != 1 {
			t.Fatalf("store reads = %d for 5 reads, want 1", got)
		}
	})

	t.Run("AppliedEventIsSeenAtOnce", func(t *testing.T) {
		e, _, _ := setup(t)
		e.ensureOrg(t, "org_a")
		if v := e.entitlement(t, "org_a"); v.Plan != billing.FreePlan {
			t.Fatalf("plan = %s, want free", v.Plan)
		}
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if v := e.entitlement(t, "org_a"); v.Plan != "pro" {
			t.Fatalf("plan after the event = %s, want pro: the write did not drop the cached view", v.Plan)
		}
	})

	t.Run("WokenWaiterReadsTheChange", func(t *testing.T) {
		e, _, _ := setup(t)
		e.ensureOrg(t, "org_a")
		before := e.entitlement(t, "org_a")
		got := make(chan billing.EntitlementView, 1)
		go func() {
			v, _ := e.svc.WaitEntitlement(context.Background(), billing.EntitlementQuery{OrgID: "org_a"}, before.ETag(), 5*time.Second, nil)
			got <- v
		}()
		time.Sleep(50 * time.Millisecond)
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		select {
		case v := <-got:
			if v.Plan != "pro" {
				t.Fatalf("woken waiter read plan %s, want pro", v.Plan)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("waiter not woken by the change")
		}
	})

	t.Run("LostNotificationsFlushEveryOrg", func(t *testing.T) {
		e, st, _ := setup(t)
		e.entitlement(t, "org_a")
		activeBehindTheCache(t, st.Store, "org_a")
		e.notifier.NotifyAll() // what a replica does after its listener reconnects
		if v := e.entitlement(t, "org_a"); v.Plan != "pro" {
			t.Fatalf("plan = %s after NotifyAll, want pro", v.Plan)
		}
	})

	t.Run("MissedChangeIsStaleAtMostTTL", func(t *testing.T) {
		e, st, clock := setup(t)
		e.entitlement(t, "org_a")
		activeBehindTheCache(t, st.Store, "org_a")
		if v := e.entitlement(t, "org_a"); v.Plan != billing.FreePlan {
			t.Fatalf("plan = %s within the TTL, want the cached free (this test needs the cache)", v.Plan)
		}
		clock.Add(ttl)
		if v := e.entitlement(t, "org_a"); v.Plan != "pro" {
			t.Fatalf("plan = %s after the TTL, want pro", v.Plan)
		}
	})

	t.Run("CheckoutDecidesOnAFreshRead", func(t *testing.T) {
		e, st, _ := setup(t)
		e.entitlement(t, "org_a") // free, cached
		activeBehindTheCache(t, st.Store, "org_a")
		_, err := e.svc.StartCheckout(context.Background(), caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		wantCode(t, err, billing.EAlreadySubscribed)
	})

	t.Run("NoChangeFeedNoCache", func(t *testing.T) {
		st := &countingStore{Store: storetest.OpenSQLite(t)}
		svc := billing.NewService(st, billingtest.NewPayments(), notifierOnly{notify.NewLocal()}, billing.Options{})
		for range 3 {
			if _, err := svc.Entitlement(context.Background(), "org_a"); err != nil {
				t.Fatal(err)
			}
		}
		if got := st.reads.Load(); got != 3 {
			t.Fatalf("store reads = %d for 3 reads, want 3: nothing would drop a cached view", got)
		}
	})
}

// notifierOnly hides every method but the Notifier port's.
type notifierOnly struct{ billing.Notifier }
