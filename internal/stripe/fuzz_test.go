package stripe_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// FuzzParseEvent: a signed payload, whatever it holds, is read into an event
// or refused as a bad request, never a panic or any other error; DecodeEvent
// reads it the same way without the signature; and a signature header other
// than the right one is always a bad signature.
func FuzzParseEvent(f *testing.F) {
	for _, api := range []string{"", "2024-06-20", "2018-05-21"} {
		ev := func(typ string) stripeevent.EventSpec {
			return stripeevent.EventSpec{ID: "evt_seed", Type: typ, Created: created, APIVersion: api}
		}
		f.Add(stripeevent.SubscriptionEvent(ev(billing.EventSubscriptionUpdated), stripeevent.SubscriptionSpec{
			ID: "sub_1", CustomerID: "cus_1", OrgID: "org_1", Status: billing.StatusActive, LookupKey: "pro_monthly",
			CurrentPeriodEnd: created.AddDate(0, 1, 0), TrialEnd: created, CancelAtPeriodEnd: true,
		}), "")
		f.Add(stripeevent.CheckoutSessionEvent(ev(billing.EventCheckoutCompleted), stripeevent.CheckoutSessionSpec{
			OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1",
		}), "")
		f.Add(stripeevent.InvoiceEvent(ev(billing.EventInvoicePaymentFailed), stripeevent.InvoiceSpec{
			CustomerID: "cus_1", SubscriptionID: "sub_1", OrgID: "org_1", AmountDue: 2000, Status: "open",
		}), "")
	}
	f.Add([]byte(`{"id":"evt_1","type":"customer.created"}`), "t=1,v1=00")

	f.Fuzz(func(t *testing.T, payload []byte, sigHeader string) {
		if sigHeader != "" {
			_, err := stripe.ParseEvent(payload, sigHeader, whsec)
			if billing.ErrorCode(err) != billing.EBadSignature {
				t.Fatalf("signature header %q: ParseEvent error %v, want EBadSignature", sigHeader, err)
			}
			return
		}
		parsed, err := stripe.ParseEvent(payload, stripeevent.Sign(payload, whsec, time.Now()), whsec)
		assertReadOrBadRequest(t, "ParseEvent", err)
		decoded, decodeErr := stripe.DecodeEvent(payload)
		assertReadOrBadRequest(t, "DecodeEvent", decodeErr)
		if (err == nil) != (decodeErr == nil) || !reflect.DeepEqual(parsed, decoded) {
			t.Fatalf("ParseEvent = %+v, %v; DecodeEvent = %+v, %v; want the same", parsed, err, decoded, decodeErr)
		}
	})
}

func assertReadOrBadRequest(t *testing.T, what string, err error) {
	t.Helper()
	var be *billing.Error
	if err != nil && (!errors.As(err, &be) || be.Code != billing.EBadRequest) {
		t.Fatalf("%s error %v, want nil or an EBadRequest *billing.Error", what, err)
	}
}
