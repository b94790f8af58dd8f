// Package stripeevent builds Stripe webhook deliveries — event JSON shaped the
// way Stripe sends it and a matching Stripe-Signature header — for tests and dev
// mode, since stripe-mock sends no webhooks.
//
// Objects take the shape of the event's API version: basil (2025-03-31) and later
// put a subscription's current_period_end on its items and an invoice's
// subscription under parent.subscription_details; older versions put them at the
// top level. Before 2020-08-27 subscription items carry a plan but no price, and
// the subscription its plan and quantity too; before 2018-11-08 an invoice has
// no status, only flags (paid, closed). It must not import testing: the billingd
// binary uses it in dev mode.
package stripeevent

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/billingd/billingd/internal/billing"
)

// API versions that changed the shape of the objects built here.
const (
	basil         = "2025-03-31" // the first of the basil release, which moved fields
	prices        = "2020-08-27" // items with a price, no plan on the subscription
	invoiceStatus = "2018-11-08" // invoices with a status
)

// EventSpec is an event's envelope. Zero fields get defaults.
type EventSpec struct {
	ID      string    // default: a fresh evt_ id
	Type    string    // e.g. billing.EventSubscriptionUpdated
	Created time.Time // default: now; Stripe sends whole seconds
	// APIVersion defaults to the version stripe-go pins (stripego.APIVersion).
	APIVersion string
}

// Event returns a Stripe event carrying object as data.object. The typed
// builders below use it; call it directly for any other type.
func Event(ev EventSpec, object map[string]any) []byte {
	ev = ev.withDefaults()
	e := envelope{
		ID:              ev.ID,
		Object:          "event",
		APIVersion:      ev.APIVersion,
		Created:         ev.Created.Unix(),
		Livemode:        false,
		PendingWebhooks: 1,
		Type:            ev.Type,
	}
	e.Data.Object = object
	b, err := json.Marshal(e)
	if err != nil {
		panic("stripeevent: " + err.Error()) // only JSON values are marshalled
	}
	return b
}

// envelope is an event as Stripe sends it, fields in Stripe's order.
type envelope struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	APIVersion string `json:"api_version"`
	Created    int64  `json:"created"`
	Data       struct {
		Object map[string]any `json:"object"`
	} `json:"data"`
	Livemode        bool `json:"livemode"`
	PendingWebhooks int  `json:"pending_webhooks"`
	Request         struct {
		ID             *string `json:"id"`
		IdempotencyKey *string `json:"idempotency_key"`
	} `json:"request"`
	Type string `json:"type"`
}

func (ev EventSpec) withDefaults() EventSpec {
	if ev.ID == "" {
		ev.ID = NewID("evt")
	}
	if ev.Created.IsZero() {
		ev.Created = time.Now()
	}
	if ev.APIVersion == "" {
		ev.APIVersion = stripego.APIVersion
	}
	return ev
}

// before reports whether the event's API version is older than version, and
// so lays objects out as before it.
func (ev EventSpec) before(version string) bool {
	return ev.APIVersion < version // versions start with their yyyy-mm-dd date
}

// Sign returns the Stripe-Signature header Stripe would send with payload when
// signing it with secret at time at: "t=<unix>,v1=<hex HMAC-SHA256 of t.payload>".
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at,
	}).Header
}

// NewID returns a fresh Stripe-style id with prefix, e.g. NewID("sub") = "sub_…".
func NewID(prefix string) string {
	return prefix + "_test" + strings.ToLower(rand.Text())[:18]
}

// metadata returns Stripe metadata carrying orgID, when given.
func metadata(orgID string) map[string]any {
	md := map[string]any{}
	if orgID != "" {
		md[billing.OrgMetadataKey] = orgID
	}
	return md
}

// nullable maps "" to JSON null, the way Stripe sends unset strings.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// unixOrNull maps the zero time to JSON null.
func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
