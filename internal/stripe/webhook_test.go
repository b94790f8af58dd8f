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
	cancelAt := created.Add(20 * 24 * time.Hour)
	spec := stripeevent.SubscriptionSpec{
		ID: "sub_1", CustomerID: "cus_1", OrgID: "org_1", Status: billing.StatusTrialing,
		PriceID: "price_1", LookupKey: "team_monthly", Interval: billing.Month, Quantity: 3,
		CurrentPeriodEnd: periodEnd, TrialEnd: trialEnd, CancelAtPeriodEnd: true, CancelAt: cancelAt,
	}
	want := billing.Subscription{
		ID: "sub_1", CustomerID: "cus_1", MetadataOrgID: "org_1", Status: billing.StatusTrialing,
		PriceID: "price_1", LookupKey: "team_monthly", Interval: billing.Month, Quantity: 3,
		TrialEnd: &trialEnd, CurrentPeriodEnd: &periodEnd, CancelAtPeriodEnd: true, CancelAt: &cancelAt,
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

	// Items of old versions carry a plan and no price: the plan's id is the
	// price id, and there is no lookup key.
	t.Run("PlanOnlyItemsOfAnOldVersion", func(t *testing.T) {
		payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{
			Type: billing.EventSubscriptionUpdated, Created: created, APIVersion: "2017-08-15",
		}, spec)
		if strings.Contains(string(payload), `"price"`) || !strings.Contains(string(payload), `"object":"plan"`) {
			t.Fatalf("not shaped like a 2017-08-15 subscription: %s", payload)
		}
		plain := want
		plain.LookupKey = ""
		assertSubscription(t, *mustParse(t, payload).Subscription, plain)
	})

	// As Stripe sent it in 2017: the quantity only at the top level, no
	// cancel_at yet.
	t.Run("PlanOnlyLiteral", func(t *testing.T) {
		payload := []byte(`{"id":"evt_2017","object":"event","api_version":"2017-08-15","created":1510000000,
			"type":"customer.subscription.updated","livemode":false,"pending_webhooks":1,"request":null,
			"data":{"object":{"id":"sub_2017","object":"subscription","customer":"cus_2017","status":"past_due",
			"metadata":{"organization_id":"org_2017"},"cancel_at_period_end":false,"trial_end":null,
			"current_period_start":1510000000,"current_period_end":1541536000,
			"plan":{"id":"gold_yearly","object":"plan","amount":99000,"currency":"usd","interval":"year","interval_count":1,"name":"Gold"},
			"quantity":5,
			"items":{"object":"list","data":[{"id":"si_2017","object":"subscription_item","created":1510000000,
			"plan":{"id":"gold_yearly","object":"plan","amount":99000,"currency":"usd","interval":"year","interval_count":1,"name":"Gold"}}]}}}}`)
		end := time.Unix(1541536000, 0).UTC()
		assertSubscription(t, *mustParse(t, payload).Subscription, billing.Subscription{
			ID: "sub_2017", CustomerID: "cus_2017", MetadataOrgID: "org_2017", Status: billing.StatusPastDue,
			PriceID: "gold_yearly", Interval: billing.Year, Quantity: 5, CurrentPeriodEnd: &end,
		})
	})

	t.Run("NoCancelAtIsNil", func(t *testing.T) {
		s := spec
		s.CancelAt = time.Time{}
		payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created}, s)
		if !strings.Contains(string(payload), `"cancel_at":null`) {
			t.Fatalf("cancel_at not sent as null: %s", payload)
		}
		if got := mustParse(t, payload).Subscription.CancelAt; got != nil {
			t.Fatalf("cancelAt = %v, want nil", got)
		}
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

// A status Stripe adds after this build is reported as unknown, with Stripe's
// value kept for the log; every status billingd knows maps to itself.
func TestParseEvent_SubscriptionStatus(t *testing.T) {
	parse := func(t *testing.T, spec stripeevent.SubscriptionSpec) billing.Subscription {
		t.Helper()
		return *mustParse(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created}, spec)).Subscription
	}
	t.Run("Unknown", func(t *testing.T) {
		got := parse(t, stripeevent.SubscriptionSpec{RawStatus: "on_hold"})
		if got.Status != billing.StatusUnknown || got.RawStatus != "on_hold" {
			t.Fatalf("status = %q raw %q, want unknown raw on_hold", got.Status, got.RawStatus)
		}
	})
	for _, status := range billing.StripeStatuses {
		t.Run(string(status), func(t *testing.T) {
			got := parse(t, stripeevent.SubscriptionSpec{Status: status})
			if got.Status != status || got.RawStatus != "" {
				t.Fatalf("status = %q raw %q, want %q", got.Status, got.RawStatus, status)
			}
		})
	}
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

	// Before 2018-11-08 an invoice has flags, no status: billing decides by
	// the event type.
	t.Run("OldVersionWithoutStatus", func(t *testing.T) {
		payload := stripeevent.InvoiceEvent(stripeevent.EventSpec{
			Type: billing.EventInvoicePaymentSucceeded, Created: created, APIVersion: "2017-08-15",
		}, spec)
		if strings.Contains(string(payload), `"status"`) || !strings.Contains(string(payload), `"paid":true`) {
			t.Fatalf("not shaped like a 2017-08-15 invoice: %s", payload)
		}
		noStatus := want
		noStatus.Status = ""
		if got := mustParse(t, payload).Invoice; *got != noStatus {
			t.Errorf("invoice = %+v, want %+v", got, noStatus)
		}
	})

	t.Run("OwnMetadataNamesTheOrg", func(t *testing.T) {
		for name, version := range map[string]string{"Basil": "", "BeforeBasil": "2024-06-20"} {
			own := spec
			own.InvoiceOrgID = "org_own"
			payload := stripeevent.InvoiceEvent(stripeevent.EventSpec{Type: billing.EventInvoicePaid, Created: created, APIVersion: version}, own)
			if got := mustParse(t, payload).Invoice.OrgID; got != "org_own" {
				t.Errorf("%s: org = %q, want the invoice's own org_own over its subscription's", name, got)
			}
		}
		oneOff := stripeevent.InvoiceSpec{ID: "in_2", CustomerID: "cus_1", InvoiceOrgID: "org_own"}
		payload := stripeevent.InvoiceEvent(stripeevent.EventSpec{Type: billing.EventInvoicePaid, Created: created}, oneOff)
		if got := mustParse(t, payload).Invoice; got.OrgID != "org_own" || got.SubscriptionID != "" {
			t.Errorf("one-off invoice = %+v, want org_own and no subscription", got)
		}
	})
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
	if !timesEqual(got.TrialEnd, want.TrialEnd) || !timesEqual(got.CurrentPeriodEnd, want.CurrentPeriodEnd) || !timesEqual(got.CancelAt, want.CancelAt) {
		t.Errorf("trial end = %v, period end = %v, cancel at = %v; want %v, %v, %v",
			got.TrialEnd, got.CurrentPeriodEnd, got.CancelAt, want.TrialEnd, want.CurrentPeriodEnd, want.CancelAt)
	}
	got.TrialEnd, got.CurrentPeriodEnd, got.CancelAt, want.TrialEnd, want.CurrentPeriodEnd, want.CancelAt = nil, nil, nil, nil, nil, nil
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

// An event whose fields billingd stores carry a NUL byte is malformed:
// PostgreSQL would refuse the write with a 500.
func TestParseEvent_ErrUnstorable(t *testing.T) {
	const secret = "whsec_test"
	for name, spec := range map[string]stripeevent.SubscriptionSpec{
		"MetadataOrg": {OrgID: "org\x00a", LookupKey: "pro_monthly"},
		"Customer":    {OrgID: "org_a", CustomerID: "cus\x00a", LookupKey: "pro_monthly"},
	} {
		t.Run(name, func(t *testing.T) {
			payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated}, spec)
			_, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, secret, time.Now()), secret)
			if billing.ErrorCode(err) != billing.EBadRequest {
				t.Fatalf("err = %v, want %s", err, billing.EBadRequest)
			}
			if _, err := stripe.DecodeEvent(payload); billing.ErrorCode(err) != billing.EBadRequest {
				t.Fatalf("DecodeEvent err = %v, want %s", err, billing.EBadRequest)
			}
		})
	}
}
