// Package config owns billingd's configuration: it reads every environment
// variable of SPEC §2 (plus the rate limits, SHUTDOWN_TIMEOUT, SHUTDOWN_DELAY,
// LOG_LEVEL and PPROF_ADDR; Variables lists them all) into one validated
// Config, with all defaults in one table, and prints it with secrets masked.
//
// Startup fails on the first missing or malformed value with one line naming
// the variable (*Error). No error and no printed form ever contains a secret.
//
// It depends only on the domain (internal/billing, for the plan catalog), on
// internal/auth (for the auth defaults it shares), on internal/store (whose
// ParseURL is the one reader of DATABASE_URL) and on internal/outbound (whose
// NewSigner is the one reader of EVENTS_WEBHOOK_SECRET, and whose
// RedactEndpoint hides the tokens of EVENTS_WEBHOOK_URL). It must not import
// Echo, GORM, stripe-go or any other adapter: config is data, not wiring.
package config
