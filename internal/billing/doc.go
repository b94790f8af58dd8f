// Package billing is billingd's domain: organizations, the plan catalog, checkout
// sessions, entitlements, and the Service that starts checkouts, applies Stripe
// events and answers "what is this org entitled to?".
//
// It is the root of the dependency graph. It declares the ports it needs (Store,
// Payments, Notifier) and the Error type with codes; adapters in internal/store,
// internal/stripe and internal/httpapi implement or call them. It must not import
// Echo, GORM, stripe-go or any other adapter package.
package billing
