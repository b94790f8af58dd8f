package billing

import (
	"context"
	"time"
)

// Store persists billingd's state. Implementations translate their own
// not-found errors into ErrNotFound.
type Store interface {
	// InTx runs fn with a Store whose calls all belong to one transaction; it
	// commits when fn returns nil and rolls back otherwise.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	// Organization returns the org with id, or ErrNotFound.
	Organization(ctx context.Context, id string) (Organization, error)
	// OrganizationByCustomer returns the org whose Stripe Customer is customerID, or ErrNotFound.
	OrganizationByCustomer(ctx context.Context, customerID string) (Organization, error)
	// EnsureOrganization inserts org unless a row with its id exists, and returns
	// the stored row either way.
	EnsureOrganization(ctx context.Context, org Organization) (Organization, error)
	// LockOrganization returns the org and, inside InTx, locks its row until the
	// transaction ends, so that one org's events apply one at a time; ErrNotFound
	// if there is no such org.
	LockOrganization(ctx context.Context, id string) (Organization, error)
	// SetCustomerID stores customerID on the org only if it has none yet, and
	// returns the stored row: its StripeCustomerID is the winner of any race.
	SetCustomerID(ctx context.Context, orgID, customerID string) (Organization, error)

	// Entitlement returns the org's entitlement, or ErrNotFound if none was written.
	Entitlement(ctx context.Context, orgID string) (Entitlement, error)
	// EntitlementsOf returns the stored entitlements of those of orgIDs that
	// have one, in any order.
	EntitlementsOf(ctx context.Context, orgIDs []string) ([]Entitlement, error)
	// SaveEntitlement inserts or replaces the org's entitlement.
	SaveEntitlement(ctx context.Context, e Entitlement) error

	// Subscription returns a subscription's stored state, or ErrNotFound.
	Subscription(ctx context.Context, id string) (SubscriptionState, error)
	// LockSubscription returns a subscription's stored state and, inside InTx,
	// locks its row until the transaction ends, so that its org cannot change
	// meanwhile; ErrNotFound (and no lock) if it is not stored.
	LockSubscription(ctx context.Context, id string) (SubscriptionState, error)
	// EntitlementInputs returns, in one read, what the org's entitlement is
	// derived from: its stored subscriptions and its stored entitlement.
	EntitlementInputs(ctx context.Context, orgID string) (EntitlementInputs, error)
	// SaveSubscription inserts or replaces a subscription's state.
	SaveSubscription(ctx context.Context, s SubscriptionState) error

	// CheckoutSession returns the session with id, or ErrNotFound.
	CheckoutSession(ctx context.Context, id string) (CheckoutSession, error)
	// SaveCheckoutSession inserts or replaces a session.
	SaveCheckoutSession(ctx context.Context, cs CheckoutSession) error
	// CheckoutState reads, at once, what a checkout of orgID decides on: the
	// org, its entitlement, its newest session that is open and not expired at
	// now, the id of its newest session in any status, and the response stored
	// for idempotencyKey ("": none).
	CheckoutState(ctx context.Context, orgID, idempotencyKey string, now time.Time) (CheckoutState, error)

	// RecordEvent stores an event receipt, or returns ErrDuplicateEvent if the
	// event id is already stored (including by a concurrent transaction).
	RecordEvent(ctx context.Context, ev EventRecord) error
	// SetEventOutcome records the org and outcome of a recorded event.
	SetEventOutcome(ctx context.Context, id, orgID string, outcome EventOutcome) error
	// SavePayment inserts or replaces a payment by invoice id.
	SavePayment(ctx context.Context, p Payment) error
	// Payment returns the payment of an invoice, or ErrNotFound.
	Payment(ctx context.Context, invoiceID string) (Payment, error)
	// PaymentsByOrg returns up to q.Limit payments of q.OrgID whose Status is
	// one of q.Statuses, newest first (CreatedAt, then InvoiceID, both
	// descending); with q.After set, only those that sort after it.
	PaymentsByOrg(ctx context.Context, q PaymentListQuery) ([]Payment, error)

	// Enqueue puts messages for other services on the durable queue that
	// delivers them, inside InTx only: they commit or roll back with the
	// transaction, so a message exists exactly when the change it reports does.
	Enqueue(ctx context.Context, msgs ...Message) error

	// SaveIdempotentResponse stores a response; an existing (orgID, key) is kept.
	SaveIdempotentResponse(ctx context.Context, r IdempotentResponse) error
}

// Price is a resolved Stripe Price.
type Price struct {
	ID        string
	LookupKey string
	Interval  Interval
	Currency  string
	// UnitAmount is in minor units.
	UnitAmount int64
}

// CustomerParams describe the Stripe Customer created for an org.
type CustomerParams struct {
	OrgID string
	Email string
	// IdempotencyKey makes concurrent creates on several replicas return one Customer.
	IdempotencyKey string
}

// CheckoutParams describe a subscription-mode Checkout Session.
type CheckoutParams struct {
	OrgID        string
	CustomerID   string
	PriceID      string
	Quantity     int
	TrialDays    int
	SuccessURL   string
	CancelURL    string
	Metadata     map[string]string // already contains organization_id
	AutomaticTax bool
	// IdempotencyKey, when set, is sent to Stripe so a retried create returns the same session.
	IdempotencyKey string
}

// CreatedCheckout is what Stripe answered to a session create.
type CreatedCheckout struct {
	ID        string
	URL       string
	ExpiresAt time.Time
}

// Payments is Stripe, as billingd uses it. Implementations translate Stripe's
// failures into an *Error with code EUpstream and never put keys in messages.
type Payments interface {
	// CreateCustomer creates a Customer carrying metadata.organization_id and returns its id.
	CreateCustomer(ctx context.Context, p CustomerParams) (string, error)
	// PriceByLookupKey returns the active price with the lookup key, or ErrNotFound.
	PriceByLookupKey(ctx context.Context, lookupKey string) (Price, error)
	// CreateCheckoutSession creates a hosted, subscription-mode Checkout Session.
	CreateCheckoutSession(ctx context.Context, p CheckoutParams) (CreatedCheckout, error)
	// ExpireCheckoutSession expires an open session; a session that is no longer
	// open is not an error.
	ExpireCheckoutSession(ctx context.Context, id string) error
	// Subscription fetches a subscription's authoritative state, or ErrNotFound.
	Subscription(ctx context.Context, id string) (Subscription, error)
	// CreatePortalSession creates a Customer Portal session for the Customer
	// and returns the URL of its hosted page.
	CreatePortalSession(ctx context.Context, customerID, returnURL string) (string, error)
}

// Notifier wakes long-polls waiting on an org's entitlement, on every replica
// where the implementation reaches.
type Notifier interface {
	// Subscribe returns a channel that receives after each Notify for orgID, and
	// a function to stop receiving. The channel may coalesce notifications.
	Subscribe(orgID string) (<-chan struct{}, func())
	// SubscribeFunc calls wake after each Notify for orgID, until the returned
	// func is called. wake must not block: it may run under the notifier's lock.
	SubscribeFunc(orgID string, wake func()) (unsubscribe func())
	// Notify wakes every subscriber of orgID.
	Notify(ctx context.Context, orgID string)
}

// EventBatcher is a Store that can apply concurrent Stripe events together:
// when BatchesEvents reports true, the transactions InTx runs are
// EventBatchTx.
type EventBatcher interface {
	BatchesEvents() bool
}

// EventBatchTx is a transaction that reads and writes the rows of many
// events with one statement each.
type EventBatchTx interface {
	Store
	// RecordEvents stores the receipts, in the order given, and returns the
	// ids of those that were not stored yet (see RecordEvent).
	RecordEvents(ctx context.Context, evs []EventRecord) (inserted map[string]bool, err error)
	// ForgetEvents deletes receipts recorded in this transaction.
	ForgetEvents(ctx context.Context, ids []string) error
	// SetEventOutcomes records the org and outcome of each receipt, by id.
	SetEventOutcomes(ctx context.Context, evs []EventRecord) error
	// LockSubscriptions locks the stored subscriptions among ids, in id
	// order, and returns them.
	LockSubscriptions(ctx context.Context, ids []string) ([]SubscriptionState, error)
	// LockOrganizations locks the orgs among ids that exist, in id order,
	// and returns them.
	LockOrganizations(ctx context.Context, ids []string) ([]Organization, error)
	// EntitlementInputsOf reads the stored entitlements of orgIDs and the
	// subscriptions that belong to them or whose id is among subIDs.
	EntitlementInputsOf(ctx context.Context, orgIDs, subIDs []string) ([]SubscriptionState, []Entitlement, error)
	// SaveSubscriptions inserts or replaces subscriptions of distinct ids.
	SaveSubscriptions(ctx context.Context, subs []SubscriptionState) error
	// SaveEntitlements inserts or replaces entitlements of distinct orgs.
	SaveEntitlements(ctx context.Context, ents []Entitlement) error
}
