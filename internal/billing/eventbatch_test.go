package billing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
)

// Concurrent webhooks on PostgreSQL are applied in batches (see
// eventbatch.go). Whatever batches form, each event applies once and the
// stored state is what applying the same events one by one gives: the
// same subscriptions and entitlements, and one entitlement.changed per
// version of each org's entitlement, the last one what it now says.
func TestHandleEvent_Batches(t *testing.T) {
	batched := newEnv(t, storetest.OpenPostgres(t))
	billing.SetEventBatchLeaders(batched.svc, 1) // so that events queue
	oneByOne := newSQLiteEnv(t)

	const orgs, perOrg = 12, 8
	var events []billing.Event
	statuses := []billing.Status{billing.StatusTrialing, billing.StatusActive, billing.StatusPastDue, billing.StatusActive,
		billing.StatusUnpaid, billing.StatusActive, billing.StatusPastDue, billing.StatusCanceled}
	for k := range orgs {
		org := fmt.Sprintf("org_%02d", k)
		for _, e := range []*env{batched, oneByOne} {
			e.ensureOrg(t, org)
		}
		for i := range perOrg {
			typ := billing.EventSubscriptionUpdated
			if statuses[i] == billing.StatusCanceled {
				typ = billing.EventSubscriptionDeleted
			}
			ev := subEvent(fmt.Sprintf("evt_%02d_%d", k, i), typ, org, "sub_"+org, statuses[i], t0.Add(time.Duration(i)*time.Minute))
			ev.Subscription.Quantity = 1 + i // every event changes what clients see
			events = append(events, ev)
		}
	}
	// A subscription that moves from org_00 to org_01, and one of an org
	// billingd does not know.
	events = append(events,
		subEvent("evt_move_0", billing.EventSubscriptionCreated, "org_00", "sub_move", billing.StatusActive, t0),
		subEvent("evt_move_1", billing.EventSubscriptionUpdated, "org_01", "sub_move", billing.StatusActive, t0.Add(time.Hour)),
		subEvent("evt_ghost", billing.EventSubscriptionCreated, "org_ghost", "sub_ghost", billing.StatusActive, t0))
	// Two events of one subscription as old as each other: only Stripe's
	// current state decides, so the second one leaves its batch.
	sameTime := subEvent("evt_same_1", billing.EventSubscriptionUpdated, "org_02", "sub_same", billing.StatusPastDue, t0)
	events = append(events, subEvent("evt_same_0", billing.EventSubscriptionCreated, "org_02", "sub_same", billing.StatusActive, t0), sameTime)
	for _, e := range []*env{batched, oneByOne} {
		e.payments.SetSubscription(*sameTime.Subscription)
	}

	// Every event delivered twice, all at once, in a random order.
	deliveries := append(append([]billing.Event{}, events...), events...)
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	applied := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ev := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := batched.svc.HandleEvent(context.Background(), ev)
			if err != nil {
				t.Errorf("HandleEvent(%s): %v", ev.ID, err)
				return
			}
			if !res.Duplicate() {
				mu.Lock()
				applied[ev.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, ev := range events {
		oneByOne.handle(t, ev)
		if applied[ev.ID] != 1 {
			t.Errorf("event %s: %d deliveries not duplicate, want 1", ev.ID, applied[ev.ID])
		}
	}
	if n := billing.BatchedEvents(batched.svc); n == 0 {
		t.Fatal("no event was applied in a batch: the test proves nothing")
	} else {
		t.Logf("%d of %d deliveries applied in batches", n, len(deliveries))
	}

	ctx := context.Background()
	for k := range orgs + 1 {
		org := fmt.Sprintf("org_%02d", k)
		if k == orgs {
			org = "org_ghost"
		}
		got, err := batched.svc.Entitlement(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		want, err := oneByOne.svc.Entitlement(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		if got.Plan != want.Plan || got.Status != want.Status || got.Seats != want.Seats || got.Active != want.Active ||
			!sameTimePtr(got.CurrentPeriodEnd, want.CurrentPeriodEnd) {
			t.Errorf("%s: batched %+v, one by one %+v", org, got, want)
		}
		msgs := batched.messages(t, org)
		for i, m := range msgs {
			if m.Entitlement.Version != int64(i+1) {
				t.Errorf("%s: message %d has version %d, want %d", org, i, m.Entitlement.Version, i+1)
			}
		}
		if got.Version != int64(len(msgs)) {
			t.Errorf("%s: entitlement version %d after %d messages", org, got.Version, len(msgs))
		}
		if len(msgs) > 0 {
			if last := msgs[len(msgs)-1].Entitlement; last.Plan != got.Plan || last.Status != got.Status || last.Seats != got.Seats {
				t.Errorf("%s: last message says %s/%s/%d, the entitlement %s/%s/%d", org, last.Plan, last.Status, last.Seats, got.Plan, got.Status, got.Seats)
			}
		}
	}
	for _, id := range []string{"sub_00", "sub_move", "sub_same", "sub_ghost"} {
		got, gotErr := batched.store.Subscription(ctx, id)
		want, wantErr := oneByOne.store.Subscription(ctx, id)
		if (gotErr == nil) != (wantErr == nil) || got.OrgID != want.OrgID || got.Status != want.Status || !got.EventCreated.Equal(want.EventCreated) {
			t.Errorf("%s: batched %+v (%v), one by one %+v (%v)", id, got, gotErr, want, wantErr)
		}
	}
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
