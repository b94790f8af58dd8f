package billing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// mustReportEachChange checks what receivers of org's messages were told:
// one entitlement.changed per change of the view, versions 1, 2, … in
// enqueue order, and the last one what a read shows now. It returns them.
func (e *env) mustReportEachChange(tb testing.TB, org string) []billing.Message {
	tb.Helper()
	var changes []billing.Message
	for _, m := range e.messages(tb, org) {
		if m.Type == billing.MessageEntitlementChanged {
			changes = append(changes, m)
		}
	}
	for i, m := range changes {
		if m.ID == "" || m.Entitlement == nil || m.Entitlement.OrgID != org || m.Entitlement.Checkout != nil {
			tb.Fatalf("message %d = %+v: want an id and org %s's view without checkout", i, m, org)
		}
		if want := int64(i + 1); m.Entitlement.Version != want {
			tb.Fatalf("message %d has version %d, want %d: versions must count the changes", i, m.Entitlement.Version, want)
		}
		if i > 0 && content(*m.Entitlement) == content(*changes[i-1].Entitlement) {
			tb.Fatalf("message %d repeats the view of message %d: only changes are sent", i, i-1)
		}
	}
	now := e.entitlement(tb, org)
	switch {
	case len(changes) == 0 && now.Version != 0:
		tb.Fatalf("no message, yet version %d is served", now.Version)
	case len(changes) > 0 && changes[len(changes)-1].Entitlement.ETag() != now.ETag():
		tb.Fatalf("last message says %+v, a read says %+v", *changes[len(changes)-1].Entitlement, now)
	}
	return changes
}

// content is what a view shows, apart from when and how often it was written.
func content(v billing.EntitlementView) string {
	v.UpdatedAt, v.Version = nil, 0
	return v.ETag()
}

func TestMessages_EntitlementChanged(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		got := e.mustReportEachChange(t, "org_a")
		if len(got) != 1 || got[0].Entitlement.Plan != "pro" || !got[0].Entitlement.Active {
			t.Fatalf("after the first subscription: %+v, want one message with plan pro", got)
		}

		t.Run("DuplicateEventSendsNothing", func(t *testing.T) {
			res := e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
			if !res.Duplicate() {
				t.Fatalf("outcome %s, want duplicate", res.Outcome)
			}
			if n := len(e.mustReportEachChange(t, "org_a")); n != 1 {
				t.Fatalf("%d messages, want still 1", n)
			}
		})
		t.Run("StaleEventSendsNothing", func(t *testing.T) {
			e.handle(t, subEvent("evt_old", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(-time.Minute)))
			if n := len(e.mustReportEachChange(t, "org_a")); n != 1 {
				t.Fatalf("%d messages, want still 1", n)
			}
		})
		t.Run("NewerEventSayingTheSameSendsNothing", func(t *testing.T) {
			before := e.entitlement(t, "org_a")
			same := subEvent("evt_same", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(time.Minute))
			same.Subscription.CurrentPeriodEnd = subEvent("", "", "", "", "", t0).Subscription.CurrentPeriodEnd
			e.handle(t, same)
			if n := len(e.mustReportEachChange(t, "org_a")); n != 1 {
				t.Fatalf("%d messages, want still 1", n)
			}
			if after := e.entitlement(t, "org_a"); after.ETag() != before.ETag() {
				t.Fatalf("the view changed from %+v to %+v", before, after)
			}
		})
		t.Run("ChangeSendsTheNextVersion", func(t *testing.T) {
			e.handle(t, subEvent("evt_del", billing.EventSubscriptionDeleted, "org_a", "sub_1", billing.StatusCanceled, t0.Add(2*time.Minute)))
			got := e.mustReportEachChange(t, "org_a")
			if len(got) != 2 || got[1].Entitlement.Plan != billing.FreePlan || got[1].Entitlement.Status != billing.StatusCanceled {
				t.Fatalf("after deletion: %+v, want a second message, free and canceled", got)
			}
			for _, m := range got {
				if u := m.Entitlement.UpdatedAt; u == nil || !m.At.Equal(*u) {
					t.Errorf("message %s timed %v, want its view's updatedAt %v", m.ID, m.At, u)
				}
			}
		})
		t.Run("MoveTellsBothOrgs", func(t *testing.T) {
			e.ensureOrg(t, "org_from")
			e.ensureOrg(t, "org_to")
			e.handle(t, subEvent("evt_m1", billing.EventSubscriptionCreated, "org_from", "sub_m", billing.StatusActive, t0))
			e.handle(t, subEvent("evt_m2", billing.EventSubscriptionUpdated, "org_to", "sub_m", billing.StatusActive, t0.Add(time.Minute)))
			from, to := e.mustReportEachChange(t, "org_from"), e.mustReportEachChange(t, "org_to")
			if len(from) != 2 || from[1].Entitlement.Active || len(to) != 1 || !to[0].Entitlement.Active {
				t.Fatalf("from = %+v, to = %+v: want the old org told it lost access, the new one that it has it", from, to)
			}
		})
		t.Run("ReconcileFixSendsAMessage", func(t *testing.T) {
			e.ensureOrg(t, "org_r")
			sub := *subEvent("", "", "org_r", "sub_r", billing.StatusActive, t0).Subscription
			if _, err := e.svc.ApplyStripeSubscription(context.Background(), sub, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.ApplyStripeSubscription(context.Background(), sub, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := e.mustReportEachChange(t, "org_r"); len(got) != 1 || got[0].Entitlement.Plan != "pro" {
				t.Fatalf("after two runs: %+v, want one message with plan pro", got)
			}
		})
	})
}

func TestMessages_Payments(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.ensureOrg(t, "org_p")
		payments := func() []billing.Message {
			var out []billing.Message
			for _, m := range e.messages(t, "org_p") {
				if m.Type != billing.MessageEntitlementChanged {
					out = append(out, m)
				}
			}
			return out
		}
		e.handle(t, invoiceFailed("in_1", "org_p", 1900, t0))
		e.handle(t, invoicePaid("in_1", "org_p", 1900, t0.Add(time.Hour)))
		paidAgain := invoicePaid("in_1", "org_p", 1900, t0.Add(time.Hour))
		paidAgain.ID, paidAgain.Type = "evt_succeeded_in_1", billing.EventInvoicePaymentSucceeded
		paidAgain.Created = paidAgain.Created.Add(time.Second)
		e.handle(t, paidAgain)                                             // Stripe sends invoice.paid and invoice.payment_succeeded
		e.handle(t, invoicePaid("in_1", "org_p", 1900, t0.Add(time.Hour))) // a redelivery

		got := payments()
		if len(got) != 2 {
			t.Fatalf("messages = %+v, want payment.failed then payment.succeeded, nothing for the repeats", got)
		}
		if got[0].Type != billing.MessagePaymentFailed || got[0].Payment.Amount != 1900 || got[0].Payment.Status != billing.PaymentFailed {
			t.Fatalf("first = %+v, want payment.failed for 1900 due", got[0])
		}
		if got[1].Type != billing.MessagePaymentSucceeded || got[1].Payment.InvoiceID != "in_1" || got[1].Payment.Status != billing.PaymentPaid {
			t.Fatalf("second = %+v, want payment.succeeded for in_1", got[1])
		}
		if got[0].ID == got[1].ID {
			t.Fatalf("both messages have id %s: each message needs its own", got[0].ID)
		}
	})
}

// TestMessages_CommitWithTheChange: a transaction that rolls back leaves no
// message, one that commits leaves its message, and without an outbox a
// change is refused rather than stored unannounced.
func TestMessages_CommitWithTheChange(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		msg := billing.Message{ID: "msg_rollback", Type: billing.MessageEntitlementChanged, OrgID: "org_tx",
			Entitlement: &billing.EntitlementView{OrgID: "org_tx", Version: 1}}
		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx billing.Store) error {
			if err := tx.Enqueue(ctx, msg); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if got := storetest.Messages(t, st); len(got) != 0 {
			t.Fatalf("after rollback: %+v, want no message", got)
		}
		msg.ID = "msg_commit"
		if err := st.InTx(ctx, func(tx billing.Store) error { return tx.Enqueue(ctx, msg) }); err != nil {
			t.Fatal(err)
		}
		if got := storetest.Messages(t, st); len(got) != 1 || got[0].ID != "msg_commit" {
			t.Fatalf("after commit: %+v, want msg_commit", got)
		}

		if err := st.Enqueue(ctx, msg); err == nil {
			t.Fatal("Enqueue outside a transaction succeeded; a message must go with its change")
		}

		st.SetOutbox(nil)
		e := newEnv(t, st)
		e.ensureOrg(t, "org_none")
		_, err = e.svc.HandleEvent(ctx, subEvent("evt_x", billing.EventSubscriptionCreated, "org_none", "sub_x", billing.StatusActive, t0))
		if err == nil {
			t.Fatal("HandleEvent without an outbox succeeded; want an error and nothing stored")
		}
		if v := e.entitlement(t, "org_none"); v.Version != 0 || v.Active {
			t.Fatalf("entitlement = %+v after a failed enqueue, want nothing stored", v)
		}
	})
}
