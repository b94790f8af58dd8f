package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

const payloadSecret = "whsec_billing_payloads"

// deliver signs payload as Stripe would, parses it with the Stripe adapter and
// hands the event to the service, as the webhook endpoint does.
func (e *env) deliver(tb testing.TB, payload []byte) billing.EventResult {
	tb.Helper()
	ev, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, payloadSecret, time.Now()), payloadSecret)
	if err != nil {
		tb.Fatalf("ParseEvent: %v\n%s", err, payload)
	}
	return e.handle(tb, ev)
}

// Payloads of older and newer API versions, end to end: Stripe's JSON, the
// adapter, the service (SPEC §4, §5).
func TestHandleEvent_StripePayloads(t *testing.T) {
	created := t0

	t.Run("PlanOnlySubscriptionOfAnOldVersionGrantsItsPlan", func(t *testing.T) {
		e := newSQLiteEnv(t) // nothing resolved yet: the plan id is matched by price id
		e.ensureOrg(t, "org_a")
		e.deliver(t, stripeevent.SubscriptionEvent(
			stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: created, APIVersion: "2017-08-15"},
			stripeevent.SubscriptionSpec{OrgID: "org_a", PriceID: "price_team_yearly", Interval: billing.Year, Quantity: 4}))
		got := e.entitlement(t, "org_a")
		if got.Plan != "team" || !got.Active || got.Seats != 4 {
			t.Fatalf("entitlement = %s active=%t seats=%d, want team with 4 seats", got.Plan, got.Active, got.Seats)
		}
	})

	t.Run("InvoiceOfAnOldVersionWithoutStatusIsPaid", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.deliver(t, stripeevent.InvoiceEvent(
			stripeevent.EventSpec{Type: billing.EventInvoicePaymentSucceeded, Created: created, APIVersion: "2017-08-15"},
			stripeevent.InvoiceSpec{ID: "in_old", OrgID: "org_a", SubscriptionID: "sub_1", AmountDue: 2000, AmountPaid: 2000}))
		page := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 10})
		if len(page.Items) != 1 || page.Items[0].Status != billing.PaymentPaid || page.Items[0].Amount != 2000 {
			t.Fatalf("history = %+v, want in_old paid 2000", page.Items)
		}
	})

	t.Run("InvoicesOwnMetadataNamesItsOrg", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.withCustomer(t, "org_customer", "cus_1")
		e.ensureOrg(t, "org_a")
		// A one-off invoice: no subscription, its own metadata names the org.
		res := e.deliver(t, stripeevent.InvoiceEvent(stripeevent.EventSpec{Type: billing.EventInvoicePaid, Created: created},
			stripeevent.InvoiceSpec{ID: "in_1", CustomerID: "cus_1", InvoiceOrgID: "org_a", AmountDue: 900, AmountPaid: 900}))
		if res.OrgID != "org_a" {
			t.Fatalf("invoice went to %q, want org_a (its metadata, before its Customer's org)", res.OrgID)
		}
	})

	t.Run("CancelAtIsStoredAndShown", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.deliver(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: created},
			stripeevent.SubscriptionSpec{ID: "sub_1", OrgID: "org_a", LookupKey: "pro_monthly"}))
		if before := e.entitlement(t, "org_a"); before.CancelAt != nil {
			t.Fatalf("cancelAt = %v before any was scheduled", before.CancelAt)
		}
		cancelAt := created.Add(20 * 24 * time.Hour)
		e.deliver(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created.Add(time.Minute)},
			stripeevent.SubscriptionSpec{ID: "sub_1", OrgID: "org_a", LookupKey: "pro_monthly", CancelAt: cancelAt}))
		after := e.entitlement(t, "org_a")
		if after.CancelAt == nil || !after.CancelAt.Equal(cancelAt) || after.Plan != "pro" {
			t.Fatalf("entitlement = %s cancelAt %v, want pro until %v", after.Plan, after.CancelAt, cancelAt)
		}
	})

	t.Run("CancelAtAloneChangesTheETag", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		at := created.Add(20 * 24 * time.Hour)
		e.deliver(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: created},
			stripeevent.SubscriptionSpec{ID: "sub_1", OrgID: "org_a", LookupKey: "pro_monthly", CancelAt: at}))
		v := e.entitlement(t, "org_a")
		moved := v
		later := at.Add(24 * time.Hour)
		moved.CancelAt = &later
		if moved.ETag() == v.ETag() {
			t.Fatal("views differing only in cancelAt have the same ETag")
		}
	})

	t.Run("UnknownStatusGrantsNothingAndIsLogged", func(t *testing.T) {
		logs := &logRecorder{}
		e := newSQLiteEnv(t, withLogs(logs))
		e.ensureOrg(t, "org_a")
		e.deliver(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: created},
			stripeevent.SubscriptionSpec{ID: "sub_1", OrgID: "org_a", LookupKey: "pro_monthly"}))
		// Stripe adds a status after this build; the subscription stops granting.
		res := e.deliver(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created.Add(time.Minute)},
			stripeevent.SubscriptionSpec{ID: "sub_1", OrgID: "org_a", LookupKey: "pro_monthly", RawStatus: "on_hold"}))
		if res.Outcome != billing.OutcomeApplied {
			t.Fatalf("outcome = %s, want applied", res.Outcome)
		}
		got := e.entitlement(t, "org_a")
		if got.Status != billing.StatusUnknown || got.Plan != billing.FreePlan || got.Active {
			t.Fatalf("entitlement = %s/%s active=%t, want free/unknown", got.Plan, got.Status, got.Active)
		}
		if !logs.warned("status billingd does not know", map[string]string{"stripe_status": "on_hold", "subscription_id": "sub_1"}) {
			t.Fatal("no warning naming Stripe's raw status")
		}
	})

	t.Run("UnknownStatusStoredByAnOlderBuildIsShownAsUnknown", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		err := e.store.SaveEntitlement(context.Background(), billing.Entitlement{
			OrgID: "org_a", SubscriptionPlan: "pro", Status: "on_hold", SubscriptionID: "sub_1", EventCreated: t0, UpdatedAt: t0,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusUnknown || got.Active {
			t.Fatalf("entitlement = %s/%s, want free/unknown", got.Plan, got.Status)
		}
	})
}
