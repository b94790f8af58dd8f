// Package billing is billingd's domain: organizations, the plan catalog, checkout
// sessions, entitlements, and the Service that starts checkouts, applies Stripe
// events and answers "what is this org entitled to?".
//
// Its invariants: only HandleEvent (a Stripe event) and ApplyStripeSubscription
// (reconcile's fetched state) write subscriptions and entitlements; an event's
// id is recorded in the same transaction as its effect, so it applies once;
// final states (canceled, incomplete_expired) absorb; any delivery order of
// the same events ends in the same state; and each write that changes an org's
// entitlement stores the next Entitlement.Version, so it strictly increases.
//
// It is the root of the dependency graph. It declares the ports it needs (Store,
// Payments, Notifier) and the Error type with codes; adapters in internal/store,
// internal/stripe and internal/httpapi implement or call them. It must not import
// Echo, GORM, stripe-go or any other adapter package.
package billing
