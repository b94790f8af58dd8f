package config

import "slices"

// variables is every environment variable Load reads, sorted. TestVariables
// records the names Load passes to getenv and fails when they differ from this
// list, so deployment manifests can be checked against it without drift.
var variables = []string{
	"ALLOWED_REDIRECT_ORIGINS",
	"APP_URL",
	"AUTH_AUDIENCE",
	"AUTH_ISSUER",
	"AUTH_JWKS_URL",
	"AUTH_JWT_SECRET",
	"AUTH_ORG_CLAIM",
	"AUTOMATIC_TAX",
	"CHECKOUT_RATE_LIMIT",
	"CHECKOUT_TRIAL_DAYS",
	"CORS_ALLOWED_ORIGINS",
	"DATABASE_URL",
	"DB_TIMEOUT",
	"EVENTS_WEBHOOK_SECRET",
	"EVENTS_WEBHOOK_URL",
	"EVENT_RETENTION",
	"LOG_LEVEL",
	"PAST_DUE_ACCESS",
	"PLANS_FILE",
	"POLL_RATE_LIMIT",
	"PORT",
	"PPROF_ADDR",
	"RECONCILE_INTERVAL",
	"SERVICE_RATE_LIMIT",
	"SHUTDOWN_DELAY",
	"SHUTDOWN_TIMEOUT",
	"STRIPE_API_BASE",
	"STRIPE_SECRET_KEY",
	"STRIPE_WEBHOOK_SECRET",
}

// Variables returns the name of every environment variable Load reads, sorted.
// The caller owns the slice.
func Variables() []string {
	return slices.Clone(variables)
}
