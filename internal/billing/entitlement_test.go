package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

func TestEntitlement(t *testing.T) {
	ctx := context.Background()

	t.Run("NeverSeenOrgIsFreeAndNothingIsWritten", func(t *testing.T) {
		e := newSQLiteEnv(t)
		got := e.entitlement(t, "org_new")
		if got.Plan != billing.FreePlan || got.Status != billing.StatusNone || got.Active || got.UpdatedAt != nil || len(got.Features) != 0 {
			t.Fatalf("entitlement = %+v, want free/none", got)
		}
		e.mustHaveNoRows(t, "org_new")
	})

	t.Run("ETagChangesWithState", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		before := e.entitlement(t, "org_a").ETag()
		if again := e.entitlement(t, "org_a").ETag(); again != before {
			t.Fatalf("ETag of unchanged state changed: %s -> %s", before, again)
		}
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if after := e.entitlement(t, "org_a").ETag(); after == before {
			t.Fatal("ETag did not change when the plan did")
		}
	})

	t.Run("SessionOfAnotherOrgIsNotFound", func(t *testing.T) {
		e := newSQLiteEnv(t)
		res, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.EntitlementFor(ctx, billing.EntitlementQuery{OrgID: "org_b", SessionID: res.SessionID})
		wantCode(t, err, billing.ENotFound)
		_, err = e.svc.EntitlementFor(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: "cs_unknown"})
		wantCode(t, err, billing.ENotFound)
		v, err := e.svc.EntitlementFor(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: res.SessionID})
		if err != nil || v.Checkout == nil || v.Checkout.Status != billing.CheckoutOpen || v.Checkout.Ready {
			t.Fatalf("own session = %+v, %v; want open, not ready", v.Checkout, err)
		}
	})

	t.Run("WaitIsWokenByTheWebhookWrite", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		type answer struct {
			v   billing.EntitlementView
			err error
			at  time.Time
		}
		got := make(chan answer, 1)
		go func() {
			v, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a"}, "", 10*time.Second, nil)
			got <- answer{v, err, time.Now()}
		}()
		waitForWaiters(t, e, 1)
		wrote := time.Now()
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		a := <-got
		if a.err != nil || a.v.Plan != "pro" {
			t.Fatalf("wait answered %+v, %v; want pro", a.v, a.err)
		}
		if lag := a.at.Sub(wrote); lag > time.Second {
			t.Fatalf("woken %v after the write, want well under a second", lag)
		}
	})

	t.Run("WaitTimesOutWithCurrentState", func(t *testing.T) {
		e := newSQLiteEnv(t)
		start := time.Now()
		v, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a"}, "", 150*time.Millisecond, nil)
		if err != nil || v.Plan != billing.FreePlan {
			t.Fatalf("wait = %+v, %v", v, err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("returned after %v, before the wait ended", d)
		}
	})

	t.Run("DrainReleasesWaiters", func(t *testing.T) {
		e := newSQLiteEnv(t)
		drain, drainNow := context.WithCancel(context.Background())
		done := make(chan time.Time, 1)
		go func() {
			_, _ = e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a"}, "", 20*time.Second, drain)
			done <- time.Now()
		}()
		waitForWaiters(t, e, 1)
		drained := time.Now()
		drainNow()
		select {
		case at := <-done:
			if lag := at.Sub(drained); lag > time.Second {
				t.Fatalf("released %v after Drain", lag)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter was still held 5 s after Drain")
		}
		// Later polls do not wait at all.
		start := time.Now()
		if _, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a"}, "", 20*time.Second, drain); err != nil || time.Since(start) > time.Second {
			t.Fatalf("wait after Drain took %v (err %v), want at once", time.Since(start), err)
		}
	})

	t.Run("WaitReturnsAtOnceWhenTagIsStale", func(t *testing.T) {
		e := newSQLiteEnv(t)
		start := time.Now()
		if _, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a"}, "some-old-tag", 5*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("returned after %v, want at once", d)
		}
	})
}

func waitForWaiters(tb testing.TB, e *env, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.notifier.Waiters() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d waiters, want %d", e.notifier.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCatalog(t *testing.T) {
	t.Run("DefaultIsValid", func(t *testing.T) {
		c, err := billing.NewCatalog(billing.DefaultPlans())
		if err != nil {
			t.Fatal(err)
		}
		if p, iv, ok := c.ByLookupKey("team_yearly"); !ok || p.Slug != "team" || iv != billing.Year {
			t.Fatalf("ByLookupKey(team_yearly) = %s %s %t", p.Slug, iv, ok)
		}
	})
	t.Run("RejectsSharedLookupKey", func(t *testing.T) {
		plans := billing.DefaultPlans()
		plans[1].LookupKeys[billing.Month] = plans[0].LookupKeys[billing.Month]
		if _, err := billing.NewCatalog(plans); err == nil {
			t.Fatal("two plans with one lookup key were accepted")
		}
	})
}
