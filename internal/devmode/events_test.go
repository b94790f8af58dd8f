package devmode_test

import (
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/devmode"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// parse reads payload the way billingd's webhook endpoint does.
func parse(t *testing.T, payload []byte) billing.Event {
	t.Helper()
	ev, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, webhookSecret, time.Now()), webhookSecret)
	if err != nil {
		t.Fatalf("ParseEvent: %v\n%s", err, payload)
	}
	return ev
}

func TestPaidCheckout_Events(t *testing.T) {
	created := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

	t.Run("WithSession", func(t *testing.T) {
		events := devmode.PaidCheckout{
			OrgID: "org_a", SessionID: "cs_test_1", CustomerID: "cus_a", SubscriptionID: "sub_a",
			PriceID: "price_pro_yearly", LookupKey: "pro_yearly", Interval: billing.Year, Quantity: 3,
			Status: billing.StatusTrialing, TrialDays: 7, Created: created,
		}.Events()
		if len(events) != 2 {
			t.Fatalf("%d events, want checkout.session.completed and customer.subscription.created", len(events))
		}

		cs := parse(t, events[0])
		want := billing.CheckoutObject{
			ID: "cs_test_1", ClientReferenceID: "org_a", OrgID: "org_a", CustomerID: "cus_a",
			SubscriptionID: "sub_a", Status: billing.CheckoutComplete, PaymentStatus: "paid",
		}
		if cs.Type != billing.EventCheckoutCompleted || cs.Checkout == nil || *cs.Checkout != want {
			t.Errorf("first event = %s %+v, want %s %+v", cs.Type, cs.Checkout, billing.EventCheckoutCompleted, want)
		}

		sub := parse(t, events[1])
		s := sub.Subscription
		if sub.Type != billing.EventSubscriptionCreated || s == nil {
			t.Fatalf("second event = %s, want %s", sub.Type, billing.EventSubscriptionCreated)
		}
		if s.ID != "sub_a" || s.MetadataOrgID != "org_a" || s.CustomerID != "cus_a" || s.PriceID != "price_pro_yearly" ||
			s.LookupKey != "pro_yearly" || s.Interval != billing.Year || s.Quantity != 3 || s.Status != billing.StatusTrialing {
			t.Errorf("subscription = %+v", *s)
		}
		if wantEnd := created.AddDate(0, 0, 7); s.TrialEnd == nil || !s.TrialEnd.Equal(wantEnd) {
			t.Errorf("trial end = %v, want %v", s.TrialEnd, wantEnd)
		}
		if !cs.Created.Equal(created) || !sub.Created.Equal(created) || cs.ID == sub.ID {
			t.Errorf("events %s (%v) and %s (%v): want distinct ids created at %v", cs.ID, cs.Created, sub.ID, sub.Created, created)
		}
	})

	t.Run("WithoutSession", func(t *testing.T) {
		events := devmode.PaidCheckout{OrgID: "org_a", LookupKey: "pro_monthly", Status: billing.StatusActive}.Events()
		if len(events) != 1 {
			t.Fatalf("%d events, want only customer.subscription.created", len(events))
		}
		s := parse(t, events[0]).Subscription
		if s.MetadataOrgID != "org_a" || s.Status != billing.StatusActive || s.TrialEnd != nil ||
			s.CustomerID == "" || s.ID == "" || s.Quantity != 1 {
			t.Errorf("subscription = %+v, want org_a active, no trial end, fresh ids, quantity 1", *s)
		}
	})
}
