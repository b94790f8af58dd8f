// Package httpapi is billingd's HTTP surface: the Echo server, its routes and
// middleware (request ids, auth, body limits), the one error handler that turns
// billing error codes into the JSON envelope, and the strict-server
// implementation that maps api.* (generated from openapi.yaml) to billing.*.
//
// It calls the billing Service and nothing below it: no GORM, no stripe-go
// types. Webhook parsing arrives as a function, so Stripe stays in its adapter.
package httpapi
