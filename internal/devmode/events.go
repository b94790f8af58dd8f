package devmode

import (
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// defaultTrialDays is the trial of a trialing PaidCheckout that names none:
// that of the built-in Pro plan.
const defaultTrialDays = 14

// PaidCheckout is what Stripe reports when an org pays a subscription
// checkout. Zero fields get the defaults noted.
type PaidCheckout struct {
	OrgID string // metadata.organization_id of both objects
	// SessionID is the Checkout Session that was paid; "" sends no
	// checkout.session.completed, only the subscription.
	SessionID      string
	CustomerID     string // default: a fresh cus_ id
	SubscriptionID string // default: a fresh sub_ id
	PriceID        string // default: a fresh price_ id
	LookupKey      string // "" sends the price without one
	Interval       billing.Interval
	Quantity       int            // default: 1
	Status         billing.Status // default: active
	// TrialDays is how long a trialing subscription's trial lasts (default 14);
	// other statuses have no trial end.
	TrialDays int
	Created   time.Time // default: now, in whole seconds as Stripe sends it
}

// Events returns the event payloads Stripe sends for the checkout, in the order
// it sends them: checkout.session.completed (when SessionID is set), then
// customer.subscription.created.
func (c PaidCheckout) Events() [][]byte {
	if c.Created.IsZero() {
		c.Created = time.Now().Truncate(time.Second)
	}
	if c.CustomerID == "" {
		c.CustomerID = stripeevent.NewID("cus")
	}
	if c.SubscriptionID == "" {
		c.SubscriptionID = stripeevent.NewID("sub")
	}
	var events [][]byte
	if c.SessionID != "" {
		events = append(events, stripeevent.CheckoutSessionEvent(
			stripeevent.EventSpec{Type: billing.EventCheckoutCompleted, Created: c.Created},
			stripeevent.CheckoutSessionSpec{
				ID: c.SessionID, OrgID: c.OrgID, CustomerID: c.CustomerID, SubscriptionID: c.SubscriptionID,
				Status: billing.CheckoutComplete, PaymentStatus: "paid",
			},
		))
	}
	sub := stripeevent.SubscriptionSpec{
		ID: c.SubscriptionID, CustomerID: c.CustomerID, OrgID: c.OrgID, Status: c.Status,
		PriceID: c.PriceID, LookupKey: c.LookupKey, Interval: c.Interval, Quantity: c.Quantity,
	}
	if sub.Status == billing.StatusTrialing {
		days := c.TrialDays
		if days == 0 {
			days = defaultTrialDays
		}
		sub.TrialEnd = c.Created.AddDate(0, 0, days)
	}
	return append(events, stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: c.Created}, sub))
}
