package config

import (
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

// Config is billingd's whole configuration. Load fills it from the environment;
// the name of the variable behind each field is in its comment.
type Config struct {
	Port        int    // PORT
	DatabaseURL string // DATABASE_URL as given, for printing (redacted)
	// Database is DATABASE_URL parsed by store.ParseURL, its one reader:
	// postgres://…, postgresql://…, sqlite:PATH or sqlite::memory:.
	Database store.Location

	StripeSecretKey     string // STRIPE_SECRET_KEY (secret)
	StripeWebhookSecret string // STRIPE_WEBHOOK_SECRET (secret)
	StripeAPIBase       string // STRIPE_API_BASE; "" means Stripe's own API. No trailing slash.

	AppURL string // APP_URL, without trailing slash
	// AllowedRedirectOrigins are normalised origins (see Origin); a client-given
	// success, cancel or return URL must be on one of them. ALLOWED_REDIRECT_ORIGINS.
	AllowedRedirectOrigins []string

	AuthJWTSecret string // AUTH_JWT_SECRET: HS256 shared secret (secret)
	AuthJWKSURL   string // AUTH_JWKS_URL
	AuthIssuer    string // AUTH_ISSUER; checked when set
	AuthAudience  string // AUTH_AUDIENCE; checked when set
	AuthOrgClaim  string // AUTH_ORG_CLAIM

	PlansFile string           // PLANS_FILE; "" means the built-in catalog
	Catalog   *billing.Catalog // the catalog, with CheckoutTrialDays applied
	// CheckoutTrialDays overrides every plan's trial days when set. CHECKOUT_TRIAL_DAYS.
	CheckoutTrialDays *int

	PastDueAccess bool // PAST_DUE_ACCESS
	AutomaticTax  bool // AUTOMATIC_TAX

	// CORSAllowedOrigins are the normalised browser origins allowed to call
	// /api/billing/*, or just AnyOrigin. CORS_ALLOWED_ORIGINS; by default the
	// AllowedRedirectOrigins, since the app that redirects is the one that calls.
	CORSAllowedOrigins []string

	// CheckoutRateLimit caps checkout creations per org. CHECKOUT_RATE_LIMIT.
	CheckoutRateLimit RateLimit
	// PollRateLimit caps reads per user token (issuer and subject, else remote
	// IP). POLL_RATE_LIMIT.
	PollRateLimit RateLimit
	// ServiceRateLimit caps reads per service token (billing:read); off by
	// default, since services read on their own hot paths. SERVICE_RATE_LIMIT.
	ServiceRateLimit RateLimit

	// DBTimeout is the deadline of one database transaction. DB_TIMEOUT.
	DBTimeout time.Duration
	// ReconcileInterval is how often one replica reconciles with Stripe; 0
	// means never (off). RECONCILE_INTERVAL.
	ReconcileInterval time.Duration
	// EventRetention is how long Stripe event ids are kept for
	// deduplication. EVENT_RETENTION.
	EventRetention time.Duration

	// EventsWebhookURLs are the endpoints that receive billingd's own events
	// (SPEC §9), each once, in the order given; none means events are off.
	// They may carry the receiver's token (user info, query): print them
	// through outbound.RedactEndpoint. EVENTS_WEBHOOK_URL, a comma list.
	EventsWebhookURLs []string
	// EventsWebhookSecret signs those events, Standard Webhooks style: whsec_
	// and the base64 key, in the form outbound.NewSigner reads. Set exactly
	// when EventsWebhookURLs is. EVENTS_WEBHOOK_SECRET (secret).
	EventsWebhookSecret string

	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: how long a graceful shutdown may take
	// ShutdownDelay is how long /readyz reports 503 after SIGTERM before the
	// server stops accepting, so load balancers stop routing first. SHUTDOWN_DELAY.
	ShutdownDelay time.Duration
	LogLevel      slog.Level // LOG_LEVEL: debug, info, warn or error

	// PprofAddr is host:port of a second listener serving net/http/pprof for
	// operators, port 0 meaning any free one; "" (the default) means none.
	// It exposes the process's internals: meant for loopback. PPROF_ADDR.
	PprofAddr string
}

// defaults is the one place default values live. ALLOWED_REDIRECT_ORIGINS is
// absent on purpose: it defaults to the origin of APP_URL.
var defaults = map[string]string{
	"PORT":                "8080",
	"DATABASE_URL":        "sqlite:billing.db",
	"APP_URL":             "http://localhost:3000",
	"AUTH_ORG_CLAIM":      auth.DefaultOrgClaim,
	"PAST_DUE_ACCESS":     "true",
	"AUTOMATIC_TAX":       "false",
	"CHECKOUT_RATE_LIMIT": "10/1m",
	"POLL_RATE_LIMIT":     "600/1m",
	"SERVICE_RATE_LIMIT":  "off",
	"DB_TIMEOUT":          "5s",
	"RECONCILE_INTERVAL":  "15m",
	"EVENT_RETENTION":     "720h",
	"SHUTDOWN_TIMEOUT":    "30s",
	"SHUTDOWN_DELAY":      "5s",
	"LOG_LEVEL":           "info",
}

// Load reads the configuration through getenv (os.Getenv when nil) and
// validates it. Values are trimmed of surrounding white space (secrets mounted
// from files often end in a newline); an empty value counts as unset. The
// error, if any, is an *Error about the first problem found.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	e := &env{getenv: getenv}
	c := Config{
		DatabaseURL:         e.str("DATABASE_URL"),
		StripeSecretKey:     e.str("STRIPE_SECRET_KEY"),
		StripeWebhookSecret: e.str("STRIPE_WEBHOOK_SECRET"),
		StripeAPIBase:       strings.TrimRight(e.str("STRIPE_API_BASE"), "/"),
		AppURL:              strings.TrimRight(e.str("APP_URL"), "/"),
		AuthJWTSecret:       e.str("AUTH_JWT_SECRET"),
		AuthJWKSURL:         e.str("AUTH_JWKS_URL"),
		AuthIssuer:          e.str("AUTH_ISSUER"),
		AuthAudience:        e.str("AUTH_AUDIENCE"),
		AuthOrgClaim:        e.str("AUTH_ORG_CLAIM"),
		PlansFile:           e.str("PLANS_FILE"),
		EventsWebhookSecret: e.str("EVENTS_WEBHOOK_SECRET"),
		PprofAddr:           e.str("PPROF_ADDR"),
	}
	// Typed values, in the order of SPEC §2, so the first bad one is reported.
	c.Port = e.integer("PORT", portProblem)
	c.Database = e.database("DATABASE_URL")
	c.AllowedRedirectOrigins = e.origins("ALLOWED_REDIRECT_ORIGINS", c.AppURL)
	c.Catalog = e.catalog("PLANS_FILE")
	c.CheckoutTrialDays = e.optionalInteger("CHECKOUT_TRIAL_DAYS", trialDaysProblem)
	c.PastDueAccess = e.boolean("PAST_DUE_ACCESS")
	c.AutomaticTax = e.boolean("AUTOMATIC_TAX")
	c.CORSAllowedOrigins = e.corsOrigins("CORS_ALLOWED_ORIGINS", c.AllowedRedirectOrigins)
	c.CheckoutRateLimit = e.rateLimit("CHECKOUT_RATE_LIMIT")
	c.PollRateLimit = e.rateLimit("POLL_RATE_LIMIT")
	c.ServiceRateLimit = e.rateLimit("SERVICE_RATE_LIMIT")
	c.DBTimeout = e.duration("DB_TIMEOUT")
	c.ReconcileInterval = e.durationOrOff("RECONCILE_INTERVAL")
	c.EventRetention = e.duration("EVENT_RETENTION")
	c.EventsWebhookURLs = e.list("EVENTS_WEBHOOK_URL")
	c.ShutdownTimeout = e.duration("SHUTDOWN_TIMEOUT")
	c.ShutdownDelay = e.duration("SHUTDOWN_DELAY")
	c.LogLevel = e.logLevel("LOG_LEVEL")
	if e.err != nil {
		return Config{}, e.err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if c.CheckoutTrialDays != nil {
		c.Catalog = c.Catalog.WithTrialDays(*c.CheckoutTrialDays)
	}
	return c, nil
}

// AuthOptions are the options of the token verifier this configuration asks for.
func (c Config) AuthOptions() auth.Options {
	o := auth.Options{JWKSURL: c.AuthJWKSURL, Issuer: c.AuthIssuer, Audience: c.AuthAudience, OrgClaim: c.AuthOrgClaim}
	if c.AuthJWTSecret != "" {
		o.HS256Secret = []byte(c.AuthJWTSecret)
	}
	return o
}
