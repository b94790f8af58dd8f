package stripe_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

const whsec = "whsec_test_secret"

// created is a whole second, as Stripe's timestamps are.
var created = time.Now().Add(-time.Minute).Truncate(time.Second).UTC()

func TestParseEvent_Subscription(t *testing.T) {
	trialEnd := created.Add(14 * 24 * time.Hour)
	periodEnd := created.AddDate(0, 1, 0)
	spec := stripeevent.SubscriptionSpec{
		ID: "sub_1", CustomerID: "cus_1", OrgID: "org_1", Status: billing.StatusTrialing,
		PriceID: "price_1", LookupKey: "team_monthly", Interval: billing.Month, Quantity: 3,
		CurrentPeriodEnd: periodEnd, TrialEnd: trialEnd, CancelAtPeriodEnd: true,
	}
	want := billing.Subscription{
		ID: "sub_1", CustomerID: "cus_1", MetadataOrgID: "org_1", Status: billing.StatusTrialing,
		PriceID: "price_1", LookupKey: "team_monthly", Interval: billing.Month, Quantity: 3,
		TrialEnd: &trialEnd, CurrentPeriodEnd: &periodEnd, CancelAtPeriodEnd: true,
	}

	t.Run("Basil", func(t *testing.T) {
		payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{
			ID: "evt_1", Type: billing.EventSubscriptionUpdated, Created: created,
		}, spec)
		if !strings.Contains(string(payload), `"api_version":"2025-`) {
			t.Fatalf("not a basil event: %s", payload)
		}
		ev := mustParse(t, payload)
		if ev.ID != "evt_1" || ev.Type != billing.EventSubscriptionUpdated || !ev.Created.Equal(created) {
			t.Errorf("envelope = %s %s %v", ev.ID, ev.Type, ev.Created)
		}
		if ev.Subscription == nil || ev.Checkout != nil || ev.Invoice != nil {
			t.Fatalf("objects = %+v", ev)
		}
		assertSubscription(t, *ev.Subscription, want)
	})

	t.Run("BeforeBasil", func(t *testing.T) {
		payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{
			Type: billing.EventSubscriptionUpdated, Created: created, APIVersion: "2024-06-20",
		}, spec)
		assertSubscription(t, *mustParse(t, payload).Subscription, want)
	})

	// As Stripe sent it in 2023: period at the top level, customer expanded,
	// no lookup key, null trial.
	t.Run("OldVersionLiteral", func(t *testing.T) {
		payload := []byte(`{"id":"evt_old","object":"event","api_version":"2023-10-16","created":1700000000,
			"type":"customer.subscription.created","livemode":false,"pending_webhooks":1,
			"request":{"id":"req_1","idempotency_key":"k"},
			"data":{"object":{"id":"sub_old","object":"subscription","customer":{"id":"cus_old","object":"customer"},
			"status":"active","metadata":{},"cancel_at_period_end":false,"trial_end":null,
			"current_period_start":1700000000,"current_period_end":1702592000,
			"items":{"object":"list","data":[{"id":"si_1","object":"subscription_item","quantity":1,
			"price":{"id":"price_old","object":"price","lookup_key":null,"recurring":{"interval":"year","interval_count":1}}}]}}}}`)
		ev := mustParse(t, payload)
		end := time.Unix(1702592000, 0).UTC()
		assertSubscription(t, *ev.Subscription, billing.Subscription{
			ID: "sub_old", CustomerID: "cus_old", Status: billing.StatusActive, PriceID: "price_old",
			Interval: billing.Year, Quantity: 1, CurrentPeriodEnd: &end,
		})
	})
}

func TestParseEvent_CheckoutSession(t *testing.T) {
	payload := stripeevent.CheckoutSessionEvent(stripeevent.EventSpec{
		Type: billing.EventCheckoutCompleted, Created: created,
	}, stripeevent.CheckoutSessionSpec{
		ID: "cs_1", OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1",
	})
	ev := mustParse(t, payload)
	want := billing.CheckoutObject{
		ID: "cs_1", ClientReferenceID: "org_1", OrgID: "org_1", CustomerID: "cus_1",
		SubscriptionID: "sub_1", Status: billing.CheckoutComplete, PaymentStatus: "paid",
	}
	if ev.Checkout == nil || *ev.Checkout != want {
		t.Errorf("checkout = %+v, want %+v", ev.Checkout, want)
	}

	t.Run("Expired", func(t *testing.T) {
		payload := stripeevent.CheckoutSessionEvent(stripeevent.EventSpec{Type: billing.EventCheckoutExpired},
			stripeevent.CheckoutSessionSpec{ID: "cs_2", OrgID: "org_1", Status: billing.CheckoutExpired})
		cs := mustParse(t, payload).Checkout
		if cs.Status != billing.CheckoutExpired || cs.PaymentStatus != "unpaid" || cs.SubscriptionID != "" || cs.CustomerID != "" {
			t.Errorf("checkout = %+v", cs)
		}
	})
}

func TestParseEvent_Invoice(t *testing.T) {
	spec := stripeevent.InvoiceSpec{
		ID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", OrgID: "org_1",
		AmountDue: 2900, AmountPaid: 2900, Currency: "eur", Status: "paid",
		HostedInvoiceURL: "https://invoice.stripe.com/i/in_1",
	}
	want := billing.InvoiceObject{
		ID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", OrgID: "org_1",
		AmountDue: 2900, AmountPaid: 2900, Currency: "eur", Status: "paid",
		HostedInvoiceURL: "https://invoice.stripe.com/i/in_1", Created: created,
	}
	for name, version := range map[string]string{"Basil": "", "BeforeBasil": "2024-06-20"} {
		t.Run(name, func(t *testing.T) {
			payload := stripeevent.InvoiceEvent(stripeevent.EventSpec{
				Type: billing.EventInvoicePaid, Created: created, APIVersion: version,
			}, spec)
			ev := mustParse(t, payload)
			if ev.Invoice == nil || *ev.Invoice != want {
				t.Errorf("invoice = %+v, want %+v", ev.Invoice, want)
			}
		})
	}
}

// Every handled type fills the object billing reads; others fill none.
func TestParseEvent_Types(t *testing.T) {
	types := map[string]string{
		billing.EventCheckoutCompleted:       "checkout",
		billing.EventCheckoutExpired:         "checkout",
		billing.EventCheckoutAsyncSucceeded:  "checkout",
		billing.EventCheckoutAsyncFailed:     "checkout",
		billing.EventSubscriptionCreated:     "subscription",
		billing.EventSubscriptionUpdated:     "subscription",
		billing.EventSubscriptionDeleted:     "subscription",
		billing.EventSubscriptionPaused:      "subscription",
		billing.EventSubscriptionResumed:     "subscription",
		billing.EventTrialWillEnd:            "subscription",
		billing.EventInvoicePaid:             "invoice",
		billing.EventInvoicePaymentSucceeded: "invoice",
		billing.EventInvoicePaymentFailed:    "invoice",
		"customer.created":                   "",
		"invoice.finalized":                  "",
	}
	for typ, object := range types {
		t.Run(typ, func(t *testing.T) {
			spec := stripeevent.EventSpec{Type: typ, Created: created}
			var payload []byte
			switch {
			case strings.HasPrefix(typ, "checkout."):
				payload = stripeevent.CheckoutSessionEvent(spec, stripeevent.CheckoutSessionSpec{})
			case strings.HasPrefix(typ, "customer.subscription."):
				payload = stripeevent.SubscriptionEvent(spec, stripeevent.SubscriptionSpec{})
			case strings.HasPrefix(typ, "invoice."):
				payload = stripeevent.InvoiceEvent(spec, stripeevent.InvoiceSpec{})
			default:
				payload = stripeevent.Event(spec, map[string]any{"id": "cus_1", "object": "customer"})
			}
			ev := mustParse(t, payload)
			got := ""
			switch {
			case ev.Checkout != nil:
				got = "checkout"
			case ev.Subscription != nil:
				got = "subscription"
			case ev.Invoice != nil:
				got = "invoice"
			}
			if got != object || ev.Type != typ || ev.ID == "" || !ev.Created.Equal(created) {
				t.Errorf("event = %+v, want object %q", ev, object)
			}
		})
	}
}

func TestParseEvent_OldAPIVersionVerifies(t *testing.T) {
	payload := stripeevent.Event(stripeevent.EventSpec{Type: "customer.created", APIVersion: "2020-08-27"},
		map[string]any{"id": "cus_1", "object": "customer"})
	mustParse(t, payload)
}

func TestParseEvent_ErrBadSignature(t *testing.T) {
	payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated},
		stripeevent.SubscriptionSpec{OrgID: "org_1"})
	now := time.Now()
	tests := map[string]struct {
		payload []byte
		header  string
	}{
		"WrongSecret": {payload, stripeevent.Sign(payload, "whsec_other", now)},
		"Tampered":    {[]byte(strings.Replace(string(payload), "org_1", "org_2", 1)), stripeevent.Sign(payload, whsec, now)},
		"TooOld":      {payload, stripeevent.Sign(payload, whsec, now.Add(-301*time.Second))},
		"NoHeader":    {payload, ""},
		"Malformed":   {payload, "garbage"},
		"NoSignature": {payload, "t=" + now.Format("20060102")},
		"OtherScheme": {payload, strings.Replace(stripeevent.Sign(payload, whsec, now), "v1=", "v0=", 1)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := stripe.ParseEvent(tt.payload, tt.header, whsec)
			if got := billing.ErrorCode(err); got != billing.EBadSignature {
				t.Fatalf("code = %q (err %v), want %s", got, err, billing.EBadSignature)
			}
		})
	}

	t.Run("WithinTolerance", func(t *testing.T) {
		if _, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, whsec, now.Add(-290*time.Second)), whsec); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseEvent_ErrBadRequest(t *testing.T) {
	tests := map[string][]byte{
		"NotJSON":         []byte(`not json`),
		"ObjectNotObject": stripeevent.Event(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated}, nil),
		"WrongFieldType": stripeevent.Event(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated},
			map[string]any{"id": "sub_1", "status": 5}),
		"NoObjectID": stripeevent.Event(stripeevent.EventSpec{Type: billing.EventInvoicePaid},
			map[string]any{"object": "invoice"}),
		"BadCustomer": stripeevent.Event(stripeevent.EventSpec{Type: billing.EventCheckoutCompleted},
			map[string]any{"id": "cs_1", "customer": 42}),
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, whsec, time.Now()), whsec)
			if got := billing.ErrorCode(err); got != billing.EBadRequest {
				t.Fatalf("code = %q (err %v), want %s", got, err, billing.EBadRequest)
			}
		})
	}
}

func TestWebhookVerifier(t *testing.T) {
	payload := stripeevent.Event(stripeevent.EventSpec{ID: "evt_v", Type: "customer.created"}, map[string]any{"id": "cus_1"})
	ev, err := stripe.WebhookVerifier{Secret: whsec}.ParseEvent(payload, stripeevent.Sign(payload, whsec, time.Now()))
	if err != nil || ev.ID != "evt_v" {
		t.Fatalf("event = %+v, err = %v", ev, err)
	}
}

func TestSign(t *testing.T) {
	at := time.Unix(1700000000, 0)
	header := stripeevent.Sign([]byte(`{}`), whsec, at)
	if !regexp.MustCompile(`^t=1700000000,v1=[0-9a-f]{64}$`).MatchString(header) {
		t.Errorf("header = %q", header)
	}
}

func mustParse(t *testing.T, payload []byte) billing.Event {
	t.Helper()
	ev, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, whsec, time.Now()), whsec)
	if err != nil {
		t.Fatalf("ParseEvent: %v\n%s", err, payload)
	}
	return ev
}

func assertSubscription(t *testing.T, got, want billing.Subscription) {
	t.Helper()
	if !timesEqual(got.TrialEnd, want.TrialEnd) || !timesEqual(got.CurrentPeriodEnd, want.CurrentPeriodEnd) {
		t.Errorf("trial end = %v, period end = %v; want %v, %v", got.TrialEnd, got.CurrentPeriodEnd, want.TrialEnd, want.CurrentPeriodEnd)
	}
	got.TrialEnd, got.CurrentPeriodEnd, want.TrialEnd, want.CurrentPeriodEnd = nil, nil, nil, nil
	if got != want {
		t.Errorf("subscription = %+v\nwant %+v", got, want)
	}
}

func timesEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
