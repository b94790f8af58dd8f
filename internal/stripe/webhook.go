package stripe

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/billingd/billingd/internal/billing"
)

// SignatureTolerance is how old a webhook's signed timestamp may be; Stripe's
// own default, against replays.
const SignatureTolerance = 300 * time.Second

// WebhookVerifier turns signed Stripe webhook deliveries into billing.Events.
type WebhookVerifier struct {
	// Secret is the endpoint's signing secret (whsec_…).
	Secret string
}

// ParseEvent is ParseEvent with the verifier's secret.
func (v WebhookVerifier) ParseEvent(payload []byte, sigHeader string) (billing.Event, error) {
	return ParseEvent(payload, sigHeader, v.Secret)
}

// ParseEvent verifies the Stripe-Signature header sigHeader over the raw request
// body payload with secret, then reads the event. A failed verification is an
// *billing.Error with code EBadSignature; a verified event whose object cannot be
// read is EBadRequest. Events of any API version are accepted.
//
// For the types billing acts on (see billing/event.go) the matching object field
// of the Event is set; for any other type only ID, Type and Created are.
func ParseEvent(payload []byte, sigHeader, secret string) (billing.Event, error) {
	e, err := webhook.ConstructEventWithOptions(payload, sigHeader, secret, webhook.ConstructEventOptions{
		Tolerance: SignatureTolerance,
		// Objects are read by local shapes that know every version's layout.
		IgnoreAPIVersionMismatch: true,
	})
	switch {
	case isSignatureError(err):
		return billing.Event{}, &billing.Error{Code: billing.EBadSignature, Message: "Invalid Stripe signature", Err: err}
	case err != nil:
		return billing.Event{}, &billing.Error{Code: billing.EBadRequest, Message: "Malformed Stripe event", Err: err}
	}
	return toEvent(e)
}

// DecodeEvent reads an event that needs no signature because billingd fetched
// it from Stripe's API itself (reconcile lists undelivered events), exactly as
// ParseEvent reads a delivered one.
func DecodeEvent(payload []byte) (billing.Event, error) {
	var e stripego.Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return billing.Event{}, &billing.Error{Code: billing.EBadRequest, Message: "Malformed Stripe event", Err: err}
	}
	return toEvent(e)
}

// toEvent reads the parts of a Stripe event billing acts on.
func toEvent(e stripego.Event) (billing.Event, error) {
	switch {
	case e.ID == "" || e.Type == "":
		return billing.Event{}, billing.Errorf(billing.EBadRequest, "Stripe event has no id or type")
	}

	ev := billing.Event{ID: e.ID, Type: string(e.Type), Created: time.Unix(e.Created, 0).UTC()}
	if e.Data == nil {
		if kindOf(ev.Type) != noObject {
			return billing.Event{}, billing.Errorf(billing.EBadRequest, "Stripe event %s has no data.object", ev.ID)
		}
		return ev, nil
	}
	if err := readObject(&ev, e.Data.Raw); err != nil {
		return billing.Event{}, &billing.Error{Code: billing.EBadRequest, Message: "Malformed " + ev.Type + " object in Stripe event", Err: err}
	}
	if !storable(reflect.ValueOf(ev)) {
		return billing.Event{}, billing.Errorf(billing.EBadRequest, "Stripe event %s carries a NUL byte in a field billingd stores", ev.ID)
	}
	return ev, nil
}

// storable reports whether every string read from the event can be stored:
// PostgreSQL refuses NUL bytes (a "\u0000" escape in the JSON), and a refused
// write would make Stripe retry the event for days. Invalid UTF-8 cannot get
// this far: JSON decoding replaces it.
func storable(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return !strings.ContainsRune(v.String(), 0)
	case reflect.Pointer:
		return v.IsNil() || storable(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if !storable(v.Field(i)) {
				return false
			}
		}
	}
	return true
}

// isSignatureError reports whether err is one of stripe-go's verification
// failures, as opposed to a signed body that is not a JSON event.
func isSignatureError(err error) bool {
	return errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
		errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld)
}

type objectKind int

const (
	noObject objectKind = iota
	checkoutObject
	subscriptionObject
	invoiceObject
)

// kindOf says which object an event type carries that billing reads.
func kindOf(eventType string) objectKind {
	switch eventType {
	case billing.EventCheckoutCompleted, billing.EventCheckoutExpired,
		billing.EventCheckoutAsyncSucceeded, billing.EventCheckoutAsyncFailed:
		return checkoutObject
	case billing.EventSubscriptionCreated, billing.EventSubscriptionUpdated,
		billing.EventSubscriptionDeleted, billing.EventSubscriptionPaused,
		billing.EventSubscriptionResumed, billing.EventTrialWillEnd:
		return subscriptionObject
	case billing.EventInvoicePaid, billing.EventInvoicePaymentSucceeded, billing.EventInvoicePaymentFailed:
		return invoiceObject
	default:
		return noObject
	}
}

// readObject sets the object field of ev its type calls for from raw data.object.
func readObject(ev *billing.Event, raw []byte) error {
	switch kindOf(ev.Type) {
	case checkoutObject:
		cs, err := decodeCheckoutSession(raw)
		if err != nil {
			return err
		}
		ev.Checkout = &cs
	case subscriptionObject:
		sub, err := decodeSubscription(raw)
		if err != nil {
			return err
		}
		ev.Subscription = &sub
	case invoiceObject:
		inv, err := decodeInvoice(raw)
		if err != nil {
			return err
		}
		ev.Invoice = &inv
	}
	return nil
}
