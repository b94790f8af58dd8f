package billing

import (
	"slices"
	"time"
)

// OrgMetadataKey is the Stripe metadata key that carries the org id on every
// Customer, Checkout Session and subscription billingd creates, and that
// events are read by (see SPEC §1 "The org travels with the money").
const OrgMetadataKey = "organization_id"

// Organization is a customer of the product, identified by the org id in the
// caller's token. It gets a Stripe Customer on its first checkout, once.
type Organization struct {
	ID               string
	BillingEmail     string
	StripeCustomerID string // "" until the first checkout created one
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Status is a Stripe subscription status, plus StatusNone for "never subscribed".
type Status string

const (
	StatusNone              Status = "none"
	StatusTrialing          Status = "trialing"
	StatusActive            Status = "active"
	StatusPastDue           Status = "past_due"
	StatusCanceled          Status = "canceled"
	StatusUnpaid            Status = "unpaid"
	StatusIncomplete        Status = "incomplete"
	StatusIncompleteExpired Status = "incomplete_expired"
	StatusPaused            Status = "paused"
	// StatusUnknown stands for a status Stripe added after this build: it
	// grants nothing, and clients see it as such rather than a value outside
	// the contract.
	StatusUnknown Status = "unknown"
)

// StripeStatuses are the subscription statuses Stripe sends: every Status
// but StatusNone.
var StripeStatuses = []Status{
	StatusTrialing, StatusActive, StatusPastDue, StatusCanceled,
	StatusUnpaid, StatusIncomplete, StatusIncompleteExpired, StatusPaused,
}

// StripeStatus maps a status as Stripe sends it to a Status: one of
// StripeStatuses, else StatusUnknown.
func StripeStatus(raw string) Status {
	if s := Status(raw); slices.Contains(StripeStatuses, s) {
		return s
	}
	return StatusUnknown
}

// Terminal reports whether a subscription in this status can never change again
// at Stripe, so no later event may move it (no resurrection).
func (s Status) Terminal() bool {
	return s == StatusCanceled || s == StatusIncompleteExpired
}

// Access is the policy that turns a subscription status into access.
type Access struct {
	// PastDueAccess keeps the plan while Stripe retries a failed payment.
	PastDueAccess bool
}

// Grants reports whether a subscription in status s grants its plan.
func (a Access) Grants(s Status) bool {
	switch s {
	case StatusTrialing, StatusActive:
		return true
	case StatusPastDue:
		return a.PastDueAccess
	default:
		return false
	}
}

// Subscription is the part of a Stripe subscription billingd needs, as read from
// an event or fetched from Stripe.
type Subscription struct {
	ID         string
	CustomerID string
	// MetadataOrgID is metadata.organization_id; "" when the subscription does not carry it.
	MetadataOrgID string
	Status        Status
	// RawStatus is the status as Stripe sent it when Status is StatusUnknown,
	// for the log; "" otherwise. It is not stored.
	RawStatus         string
	PriceID           string
	LookupKey         string // "" when the price has no lookup key
	Interval          Interval
	Quantity          int
	TrialEnd          *time.Time
	CurrentPeriodEnd  *time.Time
	CancelAtPeriodEnd bool
	// CancelAt is when Stripe will cancel the subscription, when it was
	// scheduled with cancel_at; nil otherwise.
	CancelAt *time.Time
}

// SubscriptionState is the latest known state of one subscription of an org,
// stored so that events for it can be applied in any order.
type SubscriptionState struct {
	Subscription
	// OrgID is the org the subscription belongs to: its metadata's org, else
	// its Customer's.
	OrgID string
	Plan  string // catalog slug; "" if the price is not in the catalog
	// EventCreated is the Stripe `created` time of the event this state came from.
	EventCreated time.Time
	UpdatedAt    time.Time
}

// EntitlementInputs is what an org's entitlement is derived from, as stored.
type EntitlementInputs struct {
	Subscriptions []SubscriptionState // every one of the org's, ordered by id
	Entitlement   *Entitlement        // nil when none was written yet
}

// Entitlement is what an org may use: derived from its current subscription and
// written only by the webhook pipeline.
type Entitlement struct {
	OrgID             string
	SubscriptionPlan  string // the subscription's plan slug, FreePlan when none
	Status            Status
	SubscriptionID    string
	PriceID           string
	Interval          Interval
	Seats             int
	TrialEnd          *time.Time
	CurrentPeriodEnd  *time.Time // end of the current period
	CancelAtPeriodEnd bool       // cancel at period end
	CancelAt          *time.Time // scheduled cancellation (cancel_at); nil if none
	// EventCreated is the Stripe `created` time of the last event written.
	EventCreated time.Time
	UpdatedAt    time.Time
	// Version counts the org's entitlement writes: each one that changes the
	// entitlement stores the previous Version + 1, so it strictly increases
	// per org; 0 means never written.
	Version int64
}

// NoEntitlement is the entitlement of an org billingd has never seen paying.
func NoEntitlement(orgID string) Entitlement {
	return Entitlement{OrgID: orgID, SubscriptionPlan: FreePlan, Status: StatusNone}
}

// CheckoutStatus is the status of a Checkout Session.
type CheckoutStatus string

const (
	CheckoutOpen     CheckoutStatus = "open"
	CheckoutComplete CheckoutStatus = "complete"
	CheckoutExpired  CheckoutStatus = "expired"
)

// CheckoutSession is a hosted Stripe Checkout Session billingd created for an org.
type CheckoutSession struct {
	ID             string
	OrgID          string
	Plan           string
	Interval       Interval
	PriceID        string
	Quantity       int
	Status         CheckoutStatus
	URL            string
	ExpiresAt      time.Time
	SubscriptionID string
	CustomerID     string
	CreatedBy      string // user id (token subject) that started it
	// RequestHash fingerprints the request that created it, so that an identical
	// repeat can return it.
	RequestHash string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Payment is an invoice of an org, kept as payment history.
type Payment struct {
	InvoiceID        string
	OrgID            string
	SubscriptionID   string
	AmountDue        int64 // minor units
	AmountPaid       int64 // minor units
	Currency         string
	Status           string // Stripe's invoice status, or InvoicePaymentFailed
	HostedInvoiceURL string
	EventCreated     time.Time
	CreatedAt        time.Time
}

// Stored invoice statuses that are payment history: Stripe's "paid", and the
// mark applyInvoice stores for an invoice.payment_failed event.
const (
	InvoicePaid          = "paid"
	InvoicePaymentFailed = "payment_failed"
)

// EventOutcome says what applying a Stripe event did.
type EventOutcome string

const (
	OutcomeApplied    EventOutcome = "applied"
	OutcomeDuplicate  EventOutcome = "duplicate"
	OutcomeStale      EventOutcome = "stale"
	OutcomeUnknownOrg EventOutcome = "unknown_org"
	OutcomeIgnored    EventOutcome = "ignored" // a type billingd does not act on
	OutcomeFailed     EventOutcome = "failed"  // only in metrics and logs: never stored
	// OutcomeUnchanged: ApplyStripeSubscription found the state already stored
	// and wrote nothing. Events never have it, so it is never stored either.
	OutcomeUnchanged EventOutcome = "unchanged"
)

// EventRecord is the stored receipt of a Stripe event, written in the same
// transaction as its effect.
type EventRecord struct {
	ID         string
	Type       string
	Created    time.Time
	ReceivedAt time.Time
	OrgID      string
	Outcome    EventOutcome
}

// IdempotentResponse is the stored result of a checkout made with an
// Idempotency-Key, so that a retry gets the same answer.
type IdempotentResponse struct {
	OrgID       string
	Key         string
	RequestHash string
	SessionID   string
	CreatedAt   time.Time
}
