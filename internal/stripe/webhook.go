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
	// stripe-go's ConstructEvent would also decode the whole object into a
	// map that billingd never reads; the check of the signature is the same.
	err := webhook.ValidatePayloadWithTolerance(payload, sigHeader, secret, SignatureTolerance)
	switch {
	case isSignatureError(err):
		return billing.Event{}, &billing.Error{Code: billing.EBadSignature, Message: "Invalid Stripe signature", Err: err}
	case err != nil:
		return billing.Event{}, &billing.Error{Code: billing.EBadRequest, Message: "Malformed Stripe event", Err: err}
	}
	return DecodeEvent(payload)
}

// DecodeEvent reads an event that needs no signature because billingd fetched
// it from Stripe's API itself (reconcile lists undelivered events), exactly as
// ParseEvent reads a delivered one.
func DecodeEvent(payload []byte) (billing.Event, error) {
	var e eventJSON
	if err := json.Unmarshal(payload, &e); err != nil {
		return billing.Event{}, &billing.Error{Code: billing.EBadRequest, Message: "Malformed Stripe event", Err: err}
	}
	if e.Data != nil && e.Data.Object == nil {
		return billing.Event{}, &billing.Error{Code: billing.EBadRequest, Message: "Malformed Stripe event", Err: errNoDataObject}
	}
	return readEvent(e)
}

// eventJSON is a Stripe event as stripe-go's Event reads it, field by field
// and type by type, so that it accepts and refuses the same payloads, but
// with data.object kept raw: the object is read once, by the shapes in
// object.go.
type eventJSON struct {
	Account         string                 `json:"account"`
	APIVersion      string                 `json:"api_version"`
	Context         string                 `json:"context"`
	Created         int64                  `json:"created"`
	Data            *eventDataJSON         `json:"data"`
	ID              string                 `json:"id"`
	Livemode        bool                   `json:"livemode"`
	Object          string                 `json:"object"`
	PendingWebhooks int64                  `json:"pending_webhooks"`
	Request         *stripego.EventRequest `json:"request"`
	Type            string                 `json:"type"`
}

// eventDataJSON is stripe-go's EventData, which decodes both of these into
// maps: each must be a JSON object or null, and object must be there.
type eventDataJSON struct {
	Object             rawObject `json:"object"`
	PreviousAttributes rawObject `json:"previous_attributes"`
}

// rawObject is a JSON object or null, as it came; nil when absent.
type rawObject []byte

var (
	errNotObject    = errors.New("not a JSON object")
	errNoDataObject = errors.New("event data has no object")
)

func (o *rawObject) UnmarshalJSON(b []byte) error {
	// encoding/json hands over one whole, valid value: its first byte says what it is.
	if b[0] != '{' && string(b) != "null" {
		return errNotObject
	}
	*o = append((*o)[:0], b...)
	return nil
}

// toEvent reads an event stripe-go decoded (the API's list of events) as
// readEvent reads a delivered one.
func toEvent(e stripego.Event) (billing.Event, error) {
	lean := eventJSON{ID: e.ID, Type: string(e.Type), Created: e.Created}
	if e.Data != nil {
		lean.Data = &eventDataJSON{Object: rawObject(e.Data.Raw)}
	}
	return readEvent(lean)
}

// readEvent reads the parts of a Stripe event billing acts on.
func readEvent(e eventJSON) (billing.Event, error) {
	switch {
	case e.ID == "" || e.Type == "":
		return billing.Event{}, billing.Errorf(billing.EBadRequest, "Stripe event has no id or type")
	}

	ev := billing.Event{ID: e.ID, Type: e.Type, Created: time.Unix(e.Created, 0).UTC()}
	if e.Data == nil {
		if kindOf(ev.Type) != noObject {
			return billing.Event{}, billing.Errorf(billing.EBadRequest, "Stripe event %s has no data.object", ev.ID)
		}
		return ev, nil
	}
	if err := readObject(&ev, e.Data.Object); err != nil {
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
