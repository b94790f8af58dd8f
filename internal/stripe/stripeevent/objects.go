package stripeevent

import (
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// SubscriptionSpec is a subscription with one item. Zero fields get defaults.
type SubscriptionSpec struct {
	ID         string // default: a fresh sub_ id
	CustomerID string
	OrgID      string         // metadata.organization_id; "" leaves it out
	Status     billing.Status // default: active
	PriceID    string         // default: a fresh price_ id
	LookupKey  string         // "" sends null; plan-only versions have no price to carry it
	Interval   billing.Interval
	Quantity   int // default: 1
	// CurrentPeriodEnd defaults to one Interval (default month) after the event.
	CurrentPeriodEnd  time.Time
	TrialEnd          time.Time // zero sends null
	CancelAtPeriodEnd bool
	CancelAt          time.Time // a scheduled cancellation (cancel_at); zero sends null
	// RawStatus, when set, is sent as the status instead of Status: one
	// Stripe may add after this build.
	RawStatus string
}

// SubscriptionEvent returns a customer.subscription.* event (or any type given
// in ev) carrying the subscription s.
func SubscriptionEvent(ev EventSpec, s SubscriptionSpec) []byte {
	ev = ev.withDefaults()
	return Event(ev, subscriptionObject(ev, s))
}

func subscriptionObject(ev EventSpec, s SubscriptionSpec) map[string]any {
	s.ID = orDefault(s.ID, NewID("sub"))
	s.Status = orDefault(s.Status, billing.StatusActive)
	s.PriceID = orDefault(s.PriceID, NewID("price"))
	s.Interval = orDefault(s.Interval, billing.Month)
	s.Quantity = orDefault(s.Quantity, 1)
	start := ev.Created
	if s.CurrentPeriodEnd.IsZero() {
		s.CurrentPeriodEnd = start.AddDate(0, 1, 0)
		if s.Interval == billing.Year {
			s.CurrentPeriodEnd = start.AddDate(1, 0, 0)
		}
	}
	plan := planObject(s)
	item := map[string]any{
		"id":           NewID("si"),
		"object":       "subscription_item",
		"created":      start.Unix(),
		"metadata":     map[string]any{},
		"plan":         plan,
		"quantity":     s.Quantity,
		"subscription": s.ID,
	}
	sub := map[string]any{
		"id":                   s.ID,
		"object":               "subscription",
		"cancel_at":            unixOrNull(s.CancelAt),
		"cancel_at_period_end": s.CancelAtPeriodEnd,
		"created":              start.Unix(),
		"currency":             "usd",
		"customer":             nullable(s.CustomerID),
		"livemode":             false,
		"metadata":             metadata(s.OrgID),
		"status":               orDefault(s.RawStatus, string(s.Status)),
		"trial_end":            unixOrNull(s.TrialEnd),
		"trial_start":          nil,
		"items": map[string]any{
			"object":   "list",
			"data":     []any{item},
			"has_more": false,
			"url":      "/v1/subscription_items?subscription=" + s.ID,
		},
	}
	if ev.before(prices) {
		// Plans only, and the single plan and quantity on the subscription too.
		sub["plan"], sub["quantity"] = plan, s.Quantity
	} else {
		item["price"] = priceObject(s)
	}
	period := sub // before basil the period is the subscription's
	if !ev.before(basil) {
		period = item
	}
	period["current_period_start"] = start.Unix()
	period["current_period_end"] = s.CurrentPeriodEnd.Unix()
	return sub
}

// planObject is the subscription's plan; a plan's id is also its price id.
func planObject(s SubscriptionSpec) map[string]any {
	return map[string]any{
		"id":             s.PriceID,
		"object":         "plan",
		"active":         true,
		"amount":         2000,
		"currency":       "usd",
		"interval":       string(s.Interval),
		"interval_count": 1,
		"usage_type":     "licensed",
	}
}

func priceObject(s SubscriptionSpec) map[string]any {
	return map[string]any{
		"id":          s.PriceID,
		"object":      "price",
		"active":      true,
		"currency":    "usd",
		"lookup_key":  nullable(s.LookupKey),
		"recurring":   map[string]any{"interval": string(s.Interval), "interval_count": 1, "usage_type": "licensed"},
		"type":        "recurring",
		"unit_amount": 2000,
	}
}

// CheckoutSessionSpec is a subscription-mode Checkout Session. Zero fields get defaults.
type CheckoutSessionSpec struct {
	ID             string // default: a fresh cs_ id
	OrgID          string // client_reference_id and metadata.organization_id
	CustomerID     string
	SubscriptionID string                 // "" sends null (as before completion)
	Status         billing.CheckoutStatus // default: complete
	PaymentStatus  string                 // default: paid when complete, else unpaid
}

// CheckoutSessionEvent returns a checkout.session.* event carrying the session s.
func CheckoutSessionEvent(ev EventSpec, s CheckoutSessionSpec) []byte {
	ev = ev.withDefaults()
	s.ID = orDefault(s.ID, NewID("cs"))
	s.Status = orDefault(s.Status, billing.CheckoutComplete)
	if s.PaymentStatus == "" {
		s.PaymentStatus = "unpaid"
		if s.Status == billing.CheckoutComplete {
			s.PaymentStatus = "paid"
		}
	}
	var url any // Stripe clears the URL once the session is no longer open
	if s.Status == billing.CheckoutOpen {
		url = "https://checkout.stripe.com/c/pay/" + s.ID
	}
	return Event(ev, map[string]any{
		"id":                  s.ID,
		"object":              "checkout.session",
		"client_reference_id": nullable(s.OrgID),
		"created":             ev.Created.Unix(),
		"currency":            "usd",
		"customer":            nullable(s.CustomerID),
		"expires_at":          ev.Created.Add(24 * time.Hour).Unix(),
		"livemode":            false,
		"metadata":            metadata(s.OrgID),
		"mode":                "subscription",
		"payment_status":      s.PaymentStatus,
		"status":              string(s.Status),
		"subscription":        nullable(s.SubscriptionID),
		"url":                 url,
	})
}

// InvoiceSpec is a subscription invoice. Zero fields get defaults.
type InvoiceSpec struct {
	ID             string // default: a fresh in_ id
	CustomerID     string
	SubscriptionID string
	OrgID          string // the subscription's metadata.organization_id
	// InvoiceOrgID is the invoice's own metadata.organization_id; "" leaves it out.
	InvoiceOrgID string
	AmountDue    int64  // minor units
	AmountPaid   int64  // minor units
	Currency     string // default: usd
	Status       string // default: paid; versions before 2018-11-08 send none
	// HostedInvoiceURL defaults to a Stripe-like URL for the invoice.
	HostedInvoiceURL string
	Created          time.Time // default: the event's
}

// InvoiceEvent returns an invoice.* event carrying the invoice inv.
func InvoiceEvent(ev EventSpec, inv InvoiceSpec) []byte {
	ev = ev.withDefaults()
	inv.ID = orDefault(inv.ID, NewID("in"))
	inv.Currency = orDefault(inv.Currency, "usd")
	inv.Status = orDefault(inv.Status, "paid")
	inv.HostedInvoiceURL = orDefault(inv.HostedInvoiceURL, "https://invoice.stripe.com/i/"+inv.ID)
	inv.Created = orDefault(inv.Created, ev.Created)

	obj := map[string]any{
		"id":                 inv.ID,
		"object":             "invoice",
		"amount_due":         inv.AmountDue,
		"amount_paid":        inv.AmountPaid,
		"amount_remaining":   inv.AmountDue - inv.AmountPaid,
		"billing_reason":     "subscription_cycle",
		"created":            inv.Created.Unix(),
		"currency":           inv.Currency,
		"customer":           nullable(inv.CustomerID),
		"hosted_invoice_url": inv.HostedInvoiceURL,
		"livemode":           false,
		"metadata":           metadata(inv.InvoiceOrgID),
	}
	if ev.before(invoiceStatus) {
		// Only flags; Stripe closes a paid invoice.
		paid := inv.Status == "paid"
		obj["paid"], obj["closed"], obj["forgiven"], obj["attempted"] = paid, paid, false, true
	} else {
		obj["status"] = inv.Status
	}
	details := map[string]any{"metadata": metadata(inv.OrgID)}
	if ev.before(basil) {
		obj["subscription"] = nullable(inv.SubscriptionID)
		obj["subscription_details"] = details
	} else {
		details["subscription"] = nullable(inv.SubscriptionID)
		obj["parent"] = map[string]any{
			"type":                 "subscription_details",
			"quote_details":        nil,
			"subscription_details": details,
		}
	}
	return Event(ev, obj)
}
