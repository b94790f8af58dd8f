package billing

import "time"

// Stripe event types billingd acts on.
const (
	EventCheckoutCompleted       = "checkout.session.completed"
	EventCheckoutExpired         = "checkout.session.expired"
	EventCheckoutAsyncSucceeded  = "checkout.session.async_payment_succeeded"
	EventCheckoutAsyncFailed     = "checkout.session.async_payment_failed"
	EventSubscriptionCreated     = "customer.subscription.created"
	EventSubscriptionUpdated     = "customer.subscription.updated"
	EventSubscriptionDeleted     = "customer.subscription.deleted"
	EventSubscriptionPaused      = "customer.subscription.paused"
	EventSubscriptionResumed     = "customer.subscription.resumed"
	EventTrialWillEnd            = "customer.subscription.trial_will_end"
	EventInvoicePaid             = "invoice.paid"
	EventInvoicePaymentSucceeded = "invoice.payment_succeeded"
	EventInvoicePaymentFailed    = "invoice.payment_failed"
)

// Event is a verified Stripe event, reduced to what billingd reads. Exactly one
// of Checkout, Subscription and Invoice is set for the types above; none for
// other types.
type Event struct {
	ID      string
	Type    string
	Created time.Time

	Checkout     *CheckoutObject
	Subscription *Subscription
	Invoice      *InvoiceObject
}

// CheckoutObject is the part of an event's Checkout Session billingd reads.
type CheckoutObject struct {
	ID                string
	ClientReferenceID string
	OrgID             string // metadata.organization_id
	CustomerID        string
	SubscriptionID    string
	Status            CheckoutStatus
	PaymentStatus     string // paid | unpaid | no_payment_required
}

// InvoiceObject is the part of an event's invoice billingd reads.
type InvoiceObject struct {
	ID             string
	CustomerID     string
	SubscriptionID string // basil: parent.subscription_details.subscription
	// OrgID is the invoice's own metadata.organization_id, else its
	// subscription's (basil: parent.subscription_details.metadata).
	OrgID            string
	AmountDue        int64
	AmountPaid       int64
	Currency         string
	Status           string // "" when the payload has none (older API versions)
	HostedInvoiceURL string
	Created          time.Time
}
