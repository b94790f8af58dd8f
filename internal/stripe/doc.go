// Package stripe is billingd's adapter to Stripe: it implements billing.Payments
// over one *stripe.Client from stripe-go and turns verified webhook payloads into
// billing.Events.
//
// It owns the translation at the boundary in both directions: billing params
// become stripe-go params, Stripe's answers and events become billing types, and
// Stripe's failures become *billing.Error with code EUpstream (never carrying keys
// or Stripe's raw messages to clients). Objects are read through small local JSON
// shapes rather than stripe-go's types, so that events of any API version parse.
//
// It imports internal/billing and stripe-go; it must not import the store, the
// HTTP layer or anything else of billingd.
package stripe
