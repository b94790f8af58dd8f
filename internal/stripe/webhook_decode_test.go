package stripe

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// decodeAsStripeGo is how events were read before DecodeEvent kept
// data.object raw: stripe-go's whole Event, then its raw object.
func decodeAsStripeGo(payload []byte) (billing.Event, error) {
	var e stripego.Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return billing.Event{}, err
	}
	return toEvent(e)
}

// FuzzDecodeEvent_AsStripeGo: DecodeEvent accepts exactly the payloads
// stripe-go's Event accepts, and reads the same event from them.
func FuzzDecodeEvent_AsStripeGo(f *testing.F) {
	at := time.Unix(1_700_000_000, 0).UTC()
	for _, api := range []string{"", "2018-05-21"} {
		ev := func(typ string) stripeevent.EventSpec {
			return stripeevent.EventSpec{ID: "evt_seed", Type: typ, Created: at, APIVersion: api}
		}
		f.Add(stripeevent.SubscriptionEvent(ev(billing.EventSubscriptionUpdated), stripeevent.SubscriptionSpec{
			ID: "sub_1", CustomerID: "cus_1", OrgID: "org_1", Status: billing.StatusActive, LookupKey: "pro_monthly",
			CurrentPeriodEnd: at.AddDate(0, 1, 0), TrialEnd: at, CancelAtPeriodEnd: true,
		}))
		f.Add(stripeevent.CheckoutSessionEvent(ev(billing.EventCheckoutCompleted), stripeevent.CheckoutSessionSpec{
			OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1",
		}))
		f.Add(stripeevent.InvoiceEvent(ev(billing.EventInvoicePaymentFailed), stripeevent.InvoiceSpec{
			CustomerID: "cus_1", SubscriptionID: "sub_1", OrgID: "org_1", AmountDue: 2000, Status: "open",
		}))
	}
	// The corners of stripe-go's Event: what its fields' types and its
	// EventData's maps refuse.
	for _, payload := range []string{
		`{"id":"evt_1","type":"customer.created"}`,
		`{"id":"evt_1","type":"customer.created","data":null}`,
		`{"id":"evt_1","type":"customer.created","data":{}}`,
		`{"id":"evt_1","type":"customer.created","data":{"object":null}}`,
		`{"id":"evt_1","type":"customer.created","data":{"object":[]}}`,
		`{"id":"evt_1","type":"customer.created","data":{"object":"x"}}`,
		`{"id":"evt_1","type":"customer.created","data":{"object":{},"previous_attributes":1}}`,
		`{"id":"evt_1","type":"customer.created","data":{"object":{},"previous_attributes":null}}`,
		`{"id":"evt_1","type":"customer.created","data":[]}`,
		`{"id":"evt_1","type":"customer.created","request":"req_1"}`,
		`{"id":"evt_1","type":"customer.created","request":{"id":"req_1","idempotency_key":null}}`,
		`{"id":"evt_1","type":"customer.created","livemode":"yes"}`,
		`{"id":"evt_1","type":"customer.created","created":1.5}`,
		`{"id":"evt_1","type":"customer.created","pending_webhooks":"1","account":1}`,
		`{"id":"evt_1","type":"customer.subscription.updated","data":{"object":null}}`,
		`{"id":"evt_1","type":"customer.subscription.updated","data":{"object":{"id":"sub_1"}}}`,
		`{"id":"evt_1","type":"customer.subscription.updated","DATA":{"OBJECT":{"id":"sub_1"}}}`,
		`{"id":"evt_1","type":"customer.subscription.updated","data":{"object":{"id":"sub_1"},"object":{"id":"sub_2"}}}`,
		`{"id":"evt_1","type":"customer.subscription.updated"}`,
		`[]`, `null`, `{`,
	} {
		f.Add([]byte(payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		want, wantErr := decodeAsStripeGo(payload)
		got, err := DecodeEvent(payload)
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeEvent(%s) = %+v, %v; stripe-go's Event reads %+v, %v", payload, got, err, want, wantErr)
		}
	})
}

func BenchmarkParseEvent(b *testing.B) {
	const secret = "whsec_bench"
	at := time.Now().Truncate(time.Second)
	payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: at},
		stripeevent.SubscriptionSpec{OrgID: "org_1", Status: billing.StatusActive, LookupKey: "pro_monthly", Interval: billing.Month})
	header := stripeevent.Sign(payload, secret, time.Now())
	b.Run("ParseEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseEvent(payload, header, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stripe-go", func(b *testing.B) { // what ParseEvent did before, for comparison
		b.ReportAllocs()
		for b.Loop() {
			e, err := webhook.ConstructEventWithOptions(payload, header, secret,
				webhook.ConstructEventOptions{Tolerance: SignatureTolerance, IgnoreAPIVersionMismatch: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := toEvent(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
