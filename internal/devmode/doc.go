// Package devmode is what `billingd dev` adds to a normal billingd: the
// browser pages at /dev/ that walk a checkout from the pricing page to "You're
// on Pro" ([Pages]), and a stand-in for Stripe that sends the signed webhooks a
// paid checkout produces ([PaidCheckout], [Send], [Payer]). `billingd
// send-webhook` and the pages' Pay button share that stand-in.
//
// Nothing here may be reachable in production mode: the caller mounts it only
// in dev mode. Payments still go through billingd's own webhook endpoint, so
// the single writer of entitlements stays the webhook pipeline. It imports
// the billing domain and stripeevent, never the HTTP server or the store.
package devmode
