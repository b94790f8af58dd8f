package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// The success page long-polls with its session id and no ETag: it must be
// answered when the checkout has turned into access (or expired), not at the
// first change on the way there.
func TestWaitEntitlement_SuccessPage(t *testing.T) {
	ctx := context.Background()

	completed := func(sessionID string) billing.Event {
		return billing.Event{ID: "evt_cs_" + sessionID, Type: billing.EventCheckoutCompleted, Created: t0, Checkout: &billing.CheckoutObject{
			ID: sessionID, ClientReferenceID: "org_a", OrgID: "org_a", CustomerID: "cus_fake1", SubscriptionID: "sub_1",
			Status: billing.CheckoutComplete, PaymentStatus: "paid",
		}}
	}
	type answer struct {
		v   billing.EntitlementView
		err error
		at  time.Time
	}
	// startWait holds a success-page poll for the org's new session in the background.
	startWait := func(t *testing.T, e *env, sessionID, since string, wait time.Duration) <-chan answer {
		t.Helper()
		got := make(chan answer, 1)
		go func() {
			v, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: sessionID}, since, wait, nil)
			got <- answer{v, err, time.Now()}
		}()
		waitForWaiters(t, e, 1)
		return got
	}
	checkout := func(t *testing.T, e *env) string {
		t.Helper()
		res, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		if err != nil {
			t.Fatal(err)
		}
		return res.SessionID
	}

	t.Run("HeldThroughCompletedUntilTheSubscriptionArrives", func(t *testing.T) {
		e := newSQLiteEnv(t)
		session := checkout(t, e)
		got := startWait(t, e, session, "", 10*time.Second)

		e.handle(t, completed(session))
		time.Sleep(300 * time.Millisecond)
		select {
		case a := <-got:
			t.Fatalf("answered after checkout.session.completed alone: %+v, %v", a.v.Checkout, a.err)
		default:
		}
		wrote := time.Now()
		e.handle(t, subEvent("evt_sub", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusTrialing, t0))

		a := <-got
		if a.err != nil || a.v.Checkout == nil || !a.v.Checkout.Ready || a.v.Plan != "pro" {
			t.Fatalf("answer = %+v (checkout %+v), %v; want pro and ready", a.v, a.v.Checkout, a.err)
		}
		if lag := a.at.Sub(wrote); lag > time.Second {
			t.Fatalf("answered %v after the subscription arrived, want well under a second", lag)
		}
	})

	t.Run("AnsweredWhenTheSessionExpires", func(t *testing.T) {
		e := newSQLiteEnv(t)
		session := checkout(t, e)
		got := startWait(t, e, session, "", 10*time.Second)
		e.handle(t, billing.Event{ID: "evt_exp", Type: billing.EventCheckoutExpired, Created: t0, Checkout: &billing.CheckoutObject{ID: session, OrgID: "org_a"}})
		select {
		case a := <-got:
			if a.err != nil || a.v.Checkout == nil || a.v.Checkout.Status != billing.CheckoutExpired || a.v.Checkout.Ready {
				t.Fatalf("answer = %+v, %v; want expired, not ready", a.v.Checkout, a.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("still held 5 s after the session expired")
		}
	})

	t.Run("ReadyAlreadyAnswersAtOnce", func(t *testing.T) {
		e := newSQLiteEnv(t)
		session := checkout(t, e)
		e.handle(t, completed(session))
		e.handle(t, subEvent("evt_sub", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		start := time.Now()
		v, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: session}, "", 5*time.Second, nil)
		if err != nil || v.Checkout == nil || !v.Checkout.Ready {
			t.Fatalf("wait = %+v, %v; want ready", v.Checkout, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v, want at once", d)
		}
	})

	// A client that holds the ready state's tag is not answered again with
	// the same state: it is held until something changes.
	t.Run("TagOfTheReadyStateIsHeld", func(t *testing.T) {
		e := newSQLiteEnv(t)
		session := checkout(t, e)
		e.handle(t, completed(session))
		e.handle(t, subEvent("evt_sub", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		ready, err := e.svc.EntitlementFor(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: session})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := e.svc.WaitEntitlement(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: session}, ready.ETag(), 300*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("answered after %v with the state the client already had", d)
		}
	})

	t.Run("WithATagAnyChangeAnswers", func(t *testing.T) {
		e := newSQLiteEnv(t)
		session := checkout(t, e)
		open, err := e.svc.EntitlementFor(ctx, billing.EntitlementQuery{OrgID: "org_a", SessionID: session})
		if err != nil {
			t.Fatal(err)
		}
		got := startWait(t, e, session, open.ETag(), 10*time.Second)
		e.handle(t, completed(session))
		select {
		case a := <-got:
			if a.err != nil || a.v.Checkout == nil || a.v.Checkout.Status != billing.CheckoutComplete || a.v.Checkout.Ready {
				t.Fatalf("answer = %+v, %v; want complete, not yet ready", a.v.Checkout, a.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a poll with a tag was still held 5 s after the session completed")
		}
	})
}
