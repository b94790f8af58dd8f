package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

func TestHandleEvent_Checkout(t *testing.T) {
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

	t.Run("EveryCheckoutTypeApplies", func(t *testing.T) {
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
	})
}

func TestHandleEvent_Invoice(t *testing.T) {
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

	t.Run("StatusFollowsTheEventTypeWhenThePayloadHasNone", func(t *testing.T) {
		cases := []struct{ typ, payloadStatus, want string }{
			{billing.EventInvoicePaid, "paid", billing.InvoicePaid},
			{billing.EventInvoicePaid, "", billing.InvoicePaid},
			{billing.EventInvoicePaymentSucceeded, "", billing.InvoicePaid},
			{billing.EventInvoicePaymentFailed, "open", billing.InvoicePaymentFailed},
			{billing.EventInvoicePaymentFailed, "", billing.InvoicePaymentFailed},
		}
		for _, tc := range cases {
			t.Run(tc.typ+"/"+tc.payloadStatus, func(t *testing.T) {
				e := newSQLiteEnv(t)
				e.ensureOrg(t, "org_a")
				ev := billing.Event{ID: "evt_" + tc.typ, Type: tc.typ, Created: t0, Invoice: &billing.InvoiceObject{
					ID: "in_1", OrgID: "org_a", AmountDue: 1500, Currency: "usd", Status: tc.payloadStatus, Created: t0,
				}}
				if r := e.handle(t, ev); r.Outcome != billing.OutcomeApplied {
					t.Fatalf("outcome = %s, want applied", r.Outcome)
				}
				p, err := e.store.Payment(context.Background(), "in_1")
				if err != nil || p.Status != tc.want {
					t.Fatalf("payment = %+v, %v; want status %s", p, err, tc.want)
				}
				// It is payment history, so the org's client sees it.
				page := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 10})
				if len(page.Items) != 1 {
					t.Fatalf("history = %+v, want the invoice listed", page.Items)
				}
			})
		}
	})

	t.Run("OlderEventNeverOverwritesNewer", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		failed := billing.Event{ID: "evt_failed", Type: billing.EventInvoicePaymentFailed, Created: t0.Add(time.Hour), Invoice: &billing.InvoiceObject{
			ID: "in_1", OrgID: "org_a", AmountDue: 1500, Currency: "usd", Status: "open", Created: t0,
		}}
		e.handle(t, failed)
		older := billing.Event{ID: "evt_older", Type: billing.EventInvoicePaymentFailed, Created: t0, Invoice: failed.Invoice}
		if r := e.handle(t, older); r.Outcome != billing.OutcomeStale {
			t.Fatalf("older event outcome = %s, want stale", r.Outcome)
		}
	})
}
