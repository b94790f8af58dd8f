package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/reconcile"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// fakeStripe is a stateful Stripe: the billing fake, plus the events it could
// not deliver and every subscription by Customer.
type fakeStripe struct {
	*billingtest.Payments
	mu          sync.Mutex
	undelivered []billing.Event
	byCustomer  map[string][]billing.Subscription
	lists       int
}

func newFakeStripe() *fakeStripe {
	return &fakeStripe{Payments: billingtest.NewPayments(), byCustomer: map[string][]billing.Subscription{}}
}

// set makes sub Stripe's truth, for retrieval and for listing by Customer.
func (f *fakeStripe) set(sub billing.Subscription) {
	f.SetSubscription(sub)
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.byCustomer[sub.CustomerID]
	for i := range list {
		if list[i].ID == sub.ID {
			list[i] = sub
			return
		}
	}
	f.byCustomer[sub.CustomerID] = append(list, sub)
}

func (f *fakeStripe) UndeliveredEvents(_ context.Context, since time.Time) ([]billing.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []billing.Event
	for _, ev := range f.undelivered {
		if !ev.Created.Before(since) {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakeStripe) CustomerSubscriptions(_ context.Context, customerID string) ([]billing.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return append([]billing.Subscription(nil), f.byCustomer[customerID]...), nil
}

// world is billingd over one database and the fake Stripe, at a settable now.
type world struct {
	t       *testing.T
	store   *store.Store
	stripe  *fakeStripe
	svc     *billing.Service
	rec     *reconcile.Reconciler
	mu      sync.Mutex
	nowTime time.Time
}

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newWorld(t *testing.T, st *store.Store) *world {
	w := &world{t: t, store: st, stripe: newFakeStripe(), nowTime: t0}
	w.svc = billing.NewService(st, w.stripe, notify.NewLocal(), billing.Options{Now: w.now})
	w.rec = reconcile.New(w.stripe, st, w.svc, reconcile.Options{Now: w.now, Retention: 720 * time.Hour})
	return w
}

func (w *world) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nowTime
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nowTime = w.nowTime.Add(d)
}

// org creates an org with a Customer, as its first checkout does.
func (w *world) org(id string) {
	ctx := context.Background()
	if _, err := w.store.EnsureOrganization(ctx, billing.Organization{ID: id, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.SetCustomerID(ctx, id, "cus_"+id); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) run(o reconcile.RunOptions) reconcile.Report {
	w.t.Helper()
	rep, err := w.rec.Run(context.Background(), o)
	if err != nil {
		w.t.Fatalf("reconcile: %v", err)
	}
	return rep
}

func (w *world) view(orgID string) billing.EntitlementView {
	w.t.Helper()
	v, err := w.svc.Entitlement(context.Background(), orgID)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func (w *world) deliver(ev billing.Event) billing.EventResult {
	w.t.Helper()
	res, err := w.svc.HandleEvent(context.Background(), ev)
	if err != nil {
		w.t.Fatalf("deliver %s: %v", ev.ID, err)
	}
	return res
}

func proSubscription(id, orgID string, status billing.Status) billing.Subscription {
	end := t0.Add(30 * 24 * time.Hour)
	return billing.Subscription{
		ID: id, CustomerID: "cus_" + orgID, MetadataOrgID: orgID, Status: status,
		PriceID: "price_pro_monthly", LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 1,
		CurrentPeriodEnd: &end,
	}
}

func subscriptionEvent(id, typ string, created time.Time, sub billing.Subscription) billing.Event {
	return billing.Event{ID: id, Type: typ, Created: created, Subscription: &sub}
}

func wantPlan(t *testing.T, v billing.EntitlementView, plan string, status billing.Status) {
	t.Helper()
	if v.Plan != plan || v.Status != status {
		t.Fatalf("entitlement = %s/%s, want %s/%s", v.Plan, v.Status, plan, status)
	}
}

func wantNoFixes(t *testing.T, rep reconcile.Report) {
	t.Helper()
	for kind, n := range rep.Fixes {
		if n != 0 {
			t.Fatalf("second run fixed %d × %s, want a no-op (report %+v)", n, kind, rep)
		}
	}
}

func TestReconcile_AppliesUndeliveredEvent(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.org("org_a")
		sub := proSubscription("sub_a", "org_a", billing.StatusActive)
		w.stripe.set(sub)
		w.stripe.undelivered = []billing.Event{subscriptionEvent("evt_created", billing.EventSubscriptionCreated, t0.Add(-time.Hour), sub)}

		rep := w.run(reconcile.RunOptions{})
		if rep.Events != 1 || rep.Fixes[reconcile.FixEvent] != 1 {
			t.Fatalf("report = %+v, want the one undelivered event applied", rep)
		}
		wantPlan(t, w.view("org_a"), "pro", billing.StatusActive)
		before := w.view("org_a").UpdatedAt

		// Stripe still lists it as undelivered: a duplicate now.
		w.advance(time.Minute)
		wantNoFixes(t, w.run(reconcile.RunOptions{}))
		if after := w.view("org_a").UpdatedAt; !after.Equal(*before) {
			t.Fatalf("second run rewrote the entitlement (updatedAt %v → %v)", before, after)
		}
		// And the webhook, if it finally arrives, is a duplicate too.
		if res := w.deliver(w.stripe.undelivered[0]); !res.Duplicate() {
			t.Fatalf("late delivery outcome = %s, want duplicate", res.Outcome)
		}
	})
}

// countingWriter counts the events handed to the pipeline.
type countingWriter struct {
	reconcile.Writer
	mu     sync.Mutex
	events int
}

func (c *countingWriter) HandleEvent(ctx context.Context, ev billing.Event) (billing.EventResult, error) {
	c.mu.Lock()
	c.events++
	c.mu.Unlock()
	return c.Writer.HandleEvent(ctx, ev)
}

// Stripe lists an event as undelivered while any endpoint of the account
// failed it, so most listed events are recorded already: they are skipped
// without a transaction each.
func TestReconcile_SkipsRecordedEvents(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.org("org_a")
		sub := proSubscription("sub_a", "org_a", billing.StatusActive)
		delivered := subscriptionEvent("evt_delivered", billing.EventSubscriptionCreated, t0.Add(-2*time.Hour), sub)
		w.deliver(delivered)
		sub.Quantity = 2
		lost := subscriptionEvent("evt_lost", billing.EventSubscriptionUpdated, t0.Add(-time.Hour), sub)
		w.stripe.undelivered = []billing.Event{delivered, lost}

		writer := &countingWriter{Writer: w.svc}
		rec := reconcile.New(w.stripe, st, writer, reconcile.Options{Now: w.now})
		rep, err := rec.Run(context.Background(), reconcile.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if writer.events != 1 || rep.Events != 2 || rep.Fixes[reconcile.FixEvent] != 1 {
			t.Fatalf("handed %d events to the pipeline (report %+v), want only the lost one of 2", writer.events, rep)
		}
		if v := w.view("org_a"); v.Seats != 2 {
			t.Fatalf("seats = %d, want the lost update's 2", v.Seats)
		}
		if _, err := rec.Run(context.Background(), reconcile.RunOptions{}); err != nil || writer.events != 1 {
			t.Fatalf("second run handed %d events in all (err %v), want none more", writer.events, err)
		}
	})
}

func TestReconcile_IgnoresEventsOlderThanSince(t *testing.T) {
	w := newWorld(t, storetest.OpenSQLite(t))
	w.org("org_a")
	sub := proSubscription("sub_a", "org_a", billing.StatusActive)
	w.stripe.undelivered = []billing.Event{subscriptionEvent("evt_old", billing.EventSubscriptionCreated, t0.Add(-100*time.Hour), sub)}
	if rep := w.run(reconcile.RunOptions{}); rep.Events != 0 {
		t.Fatalf("default run saw %d events older than 72 h", rep.Events)
	}
	if rep := w.run(reconcile.RunOptions{Since: 120 * time.Hour}); rep.Fixes[reconcile.FixEvent] != 1 {
		t.Fatalf("run with -since 120h = %+v, want the event applied", rep)
	}
}

func TestReconcile_HealsCompletedCheckoutFromSubscriptions(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.org("org_a")
		// The checkout completed and its webhook arrived; the subscription's never did.
		w.deliver(billing.Event{ID: "evt_cs", Type: billing.EventCheckoutCompleted, Created: t0,
			Checkout: &billing.CheckoutObject{ID: "cs_a", OrgID: "org_a", CustomerID: "cus_org_a", SubscriptionID: "sub_a",
				Status: billing.CheckoutComplete, PaymentStatus: "paid"}})
		wantPlan(t, w.view("org_a"), billing.FreePlan, billing.StatusNone)
		w.stripe.set(proSubscription("sub_a", "org_a", billing.StatusTrialing))

		rep := w.run(reconcile.RunOptions{})
		if rep.Orgs != 1 || rep.Fixes[reconcile.FixSubscription] != 1 {
			t.Fatalf("report = %+v, want org_a healed from its subscriptions", rep)
		}
		wantPlan(t, w.view("org_a"), "pro", billing.StatusTrialing)

		w.advance(time.Minute)
		rep = w.run(reconcile.RunOptions{})
		wantNoFixes(t, rep)
		if rep.Orgs != 0 {
			t.Fatalf("second run listed %d orgs, want none: the checkout is no longer unfinished", rep.Orgs)
		}
	})
}

func TestReconcile_EndsAccessPastPeriodEnd(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.org("org_a")
		sub := proSubscription("sub_a", "org_a", billing.StatusActive)
		w.deliver(subscriptionEvent("evt_created", billing.EventSubscriptionCreated, t0, sub))
		wantPlan(t, w.view("org_a"), "pro", billing.StatusActive)

		// The deletion's webhook was lost; the period ended.
		sub.Status = billing.StatusCanceled
		w.stripe.set(sub)
		w.advance(31 * 24 * time.Hour)
		rep := w.run(reconcile.RunOptions{})
		if rep.Fixes[reconcile.FixSubscription] != 1 {
			t.Fatalf("report = %+v, want the lapsed subscription healed", rep)
		}
		wantPlan(t, w.view("org_a"), billing.FreePlan, billing.StatusCanceled)
		wantNoFixes(t, w.run(reconcile.RunOptions{}))
	})
}

func TestReconcile_NeverWritesWhatThePipelineWouldNot(t *testing.T) {
	w := newWorld(t, storetest.OpenSQLite(t))
	w.org("org_a")
	sub := proSubscription("sub_a", "org_a", billing.StatusActive)
	w.deliver(subscriptionEvent("evt_created", billing.EventSubscriptionCreated, t0, sub))
	sub.Status = billing.StatusCanceled
	w.deliver(subscriptionEvent("evt_deleted", billing.EventSubscriptionDeleted, t0.Add(time.Minute), sub))
	// A stale listing at Stripe (or a bug) says active: final is final.
	sub.Status = billing.StatusActive
	w.stripe.set(sub)
	w.advance(time.Hour)
	rep := w.run(reconcile.RunOptions{All: true})
	if rep.Orgs != 1 || rep.Fixes[reconcile.FixSubscription] != 0 {
		t.Fatalf("report = %+v, want the org listed and nothing fixed", rep)
	}
	wantPlan(t, w.view("org_a"), billing.FreePlan, billing.StatusCanceled)
}

func TestReconcile_BackfillListsEveryCustomer(t *testing.T) {
	w := newWorld(t, storetest.OpenSQLite(t))
	for _, id := range []string{"org_a", "org_b", "org_c"} {
		w.org(id)
	}
	w.stripe.set(proSubscription("sub_b", "org_b", billing.StatusActive))
	if rep := w.run(reconcile.RunOptions{}); rep.Orgs != 0 {
		t.Fatalf("plain run listed %d orgs; none looks unfinished", rep.Orgs)
	}
	rep := w.run(reconcile.RunOptions{All: true})
	if rep.Orgs != 3 || w.stripe.lists != 3 || rep.Fixes[reconcile.FixSubscription] != 1 {
		t.Fatalf("backfill = %+v after %d lists, want 3 orgs listed and org_b fixed", rep, w.stripe.lists)
	}
	wantPlan(t, w.view("org_b"), "pro", billing.StatusActive)
}

// TestReconcile_PrunedEventsStillApplyOnce: a receipt pruned after the
// retention no longer marks its event a duplicate, but a redelivery is still
// older than the stored state and changes nothing.
func TestReconcile_PrunedEventsStillApplyOnce(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.org("org_a")
		sub := proSubscription("sub_a", "org_a", billing.StatusTrialing)
		created := subscriptionEvent("evt_created", billing.EventSubscriptionCreated, t0, sub)
		w.deliver(created)
		sub.Status, sub.Quantity = billing.StatusActive, 3
		w.deliver(subscriptionEvent("evt_updated", billing.EventSubscriptionUpdated, t0.Add(time.Hour), sub))
		w.stripe.set(sub)

		w.advance(31 * 24 * time.Hour)
		if err := w.rec.Prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		res := w.deliver(created)
		if res.Duplicate() {
			t.Fatal("the pruned event is still recorded")
		}
		if res.Outcome == billing.OutcomeApplied {
			t.Fatalf("redelivered old event outcome = %s, want it not applied", res.Outcome)
		}
		v := w.view("org_a")
		wantPlan(t, v, "pro", billing.StatusActive)
		if v.Seats != 3 {
			t.Fatalf("seats = %d after an old redelivery, want 3", v.Seats)
		}
	})
}

func TestReconcile_ReportsFailuresAndGoesOn(t *testing.T) {
	w := newWorld(t, storetest.OpenSQLite(t))
	w.org("org_a")
	w.org("org_b")
	w.stripe.set(proSubscription("sub_b", "org_b", billing.StatusActive))
	var observed error
	rec := reconcile.New(failingFor{w.stripe, "cus_org_a"}, w.store, w.svc, reconcile.Options{
		Now: w.now, Observe: func(_ reconcile.Report, err error) { observed = err },
	})
	rep, err := rec.Run(context.Background(), reconcile.RunOptions{All: true})
	if err == nil || !errors.Is(observed, errBoom) {
		t.Fatalf("err = %v (observed %v), want the failure reported", err, observed)
	}
	if rep.Failures != 1 || rep.Fixes[reconcile.FixSubscription] != 1 {
		t.Fatalf("report = %+v, want org_a failed and org_b still fixed", rep)
	}
}

var errBoom = errors.New("boom")

type failingFor struct {
	*fakeStripe
	customer string
}

func (f failingFor) CustomerSubscriptions(ctx context.Context, customerID string) ([]billing.Subscription, error) {
	if customerID == f.customer {
		return nil, errBoom
	}
	return f.fakeStripe.CustomerSubscriptions(ctx, customerID)
}
