package devmode

import (
	"context"
	"net/http"

	"github.com/billingd/billingd/internal/billing"
)

// Options configure a Payer.
type Options struct {
	Service *billing.Service
	Catalog *billing.Catalog // the catalog Service was built with
	// WebhookURL is billingd's own webhook endpoint, and WebhookSecret its
	// signing secret (STRIPE_WEBHOOK_SECRET).
	WebhookURL    string
	WebhookSecret string
	HTTPClient    *http.Client // default http.DefaultClient
}

// Payer plays the customer and Stripe for the dev pages' Pay button: it pays
// an org's open checkout by sending billingd the webhooks Stripe would.
type Payer struct {
	opts Options
}

// New returns a Payer.
func New(opts Options) *Payer {
	return &Payer{opts: opts}
}

// Pay pays the org's open checkout session sessionID: it sends
// checkout.session.completed and customer.subscription.created for it to the
// webhook endpoint, in that order, and returns billingd's answers. The
// subscription trials for the plan's trial days, if any, else it is active.
//
// Errors: ENotFound for an unknown session or another org's (as
// [billing.Service.CheckoutSession] returns it), EConflict for a session that
// is no longer open, EInternal when billingd refuses an event.
func (p *Payer) Pay(ctx context.Context, orgID, sessionID string) ([]Delivery, error) {
	cs, err := p.opts.Service.CheckoutSession(ctx, orgID, sessionID)
	if err != nil {
		return nil, err
	}
	if cs.Status != billing.CheckoutOpen {
		return nil, billing.Errorf(billing.EConflict, "Checkout session %s is %s, not open", cs.ID, cs.Status)
	}
	var deliveries []Delivery
	for _, payload := range p.paidCheckout(cs.CheckoutSession).Events() {
		d, err := Send(ctx, p.opts.HTTPClient, p.opts.WebhookURL, p.opts.WebhookSecret, payload)
		if err != nil {
			return deliveries, err
		}
		deliveries = append(deliveries, d)
		if !d.OK() {
			return deliveries, billing.Errorf(billing.EInternal, "billingd answered %d %s to %s: %s",
				d.Status, http.StatusText(d.Status), d.Type, d.Message)
		}
	}
	return deliveries, nil
}

// paidCheckout is what Stripe would report once cs is paid.
func (p *Payer) paidCheckout(cs billing.CheckoutSession) PaidCheckout {
	plan, _ := p.opts.Catalog.Plan(cs.Plan)
	paid := PaidCheckout{
		OrgID: cs.OrgID, SessionID: cs.ID, CustomerID: cs.CustomerID, PriceID: cs.PriceID,
		LookupKey: plan.LookupKeys[cs.Interval], Interval: cs.Interval, Quantity: cs.Quantity,
		Status: billing.StatusActive,
	}
	if plan.TrialDays > 0 {
		paid.Status, paid.TrialDays = billing.StatusTrialing, plan.TrialDays
	}
	return paid
}
