package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/outbound"
	"github.com/billingd/billingd/internal/store"
)

// LogValue lets slog print a Config with its secrets masked:
// slog.Info("starting", "config", cfg).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(c.attrs()...)
}

// String renders the Config as VAR=value pairs, secrets masked, so that it can
// be printed or logged safely.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", a.Key, a.Value.String())
	}
	return b.String()
}

// attrs is the single list of what gets printed; every secret goes through
// maskSecret, redactedDatabaseURL or redactedEventsWebhookURLs.
func (c Config) attrs() []slog.Attr {
	trialDays := "from catalog"
	if c.CheckoutTrialDays != nil {
		trialDays = strconv.Itoa(*c.CheckoutTrialDays)
	}
	var plans []string
	if c.Catalog != nil {
		for _, p := range c.Catalog.Plans() {
			plans = append(plans, p.Slug)
		}
	}
	return []slog.Attr{
		slog.Int("PORT", c.Port),
		slog.String("DATABASE_URL", c.redactedDatabaseURL()),
		slog.String("STRIPE_SECRET_KEY", maskSecret(c.StripeSecretKey)),
		slog.String("STRIPE_WEBHOOK_SECRET", maskSecret(c.StripeWebhookSecret)),
		slog.String("STRIPE_API_BASE", c.StripeAPIBase),
		slog.String("APP_URL", c.AppURL),
		slog.String("ALLOWED_REDIRECT_ORIGINS", strings.Join(c.AllowedRedirectOrigins, ",")),
		slog.String("AUTH_JWT_SECRET", maskSecret(c.AuthJWTSecret)),
		slog.String("AUTH_JWKS_URL", c.AuthJWKSURL),
		slog.String("AUTH_ISSUER", c.AuthIssuer),
		slog.String("AUTH_AUDIENCE", c.AuthAudience),
		slog.String("AUTH_ORG_CLAIM", c.AuthOrgClaim),
		slog.String("PLANS_FILE", c.PlansFile),
		slog.String("PLANS", strings.Join(plans, ",")),
		slog.String("CHECKOUT_TRIAL_DAYS", trialDays),
		slog.Bool("PAST_DUE_ACCESS", c.PastDueAccess),
		slog.Bool("AUTOMATIC_TAX", c.AutomaticTax),
		slog.String("CORS_ALLOWED_ORIGINS", strings.Join(c.CORSAllowedOrigins, ",")),
		slog.String("CHECKOUT_RATE_LIMIT", c.CheckoutRateLimit.String()),
		slog.String("POLL_RATE_LIMIT", c.PollRateLimit.String()),
		slog.String("SERVICE_RATE_LIMIT", c.ServiceRateLimit.String()),
		slog.String("DB_TIMEOUT", c.DBTimeout.String()),
		slog.String("RECONCILE_INTERVAL", offOr(c.ReconcileInterval)),
		slog.String("EVENT_RETENTION", c.EventRetention.String()),
		slog.String("EVENTS_WEBHOOK_URL", c.redactedEventsWebhookURLs()),
		slog.String("EVENTS_WEBHOOK_SECRET", maskSecret(c.EventsWebhookSecret)),
		slog.String("SHUTDOWN_TIMEOUT", c.ShutdownTimeout.String()),
		slog.String("SHUTDOWN_DELAY", c.ShutdownDelay.String()),
		slog.String("LOG_LEVEL", strings.ToLower(c.LogLevel.String())),
		slog.String("PPROF_ADDR", c.PprofAddr),
	}
}

// maskedPrefixes are the well-known, non-secret prefixes worth showing: they
// tell test mode from live mode at a glance.
var maskedPrefixes = []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_"}

func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	for _, p := range maskedPrefixes {
		if strings.HasPrefix(s, p) {
			return p + "…(masked)"
		}
	}
	return "(masked)"
}

// redactedDatabaseURL is DATABASE_URL with a PostgreSQL password hidden, in
// the user info or in a password= parameter.
func (c Config) redactedDatabaseURL() string {
	s := c.DatabaseURL
	if s == "" || c.Database.Dialect() == store.DialectSQLite {
		return s // a SQLite path holds no secret
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(masked)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactedEventsWebhookURLs lists the event endpoints as outbound, their
// owner, shows them in logs: without user info, query or fragment, which may
// carry the receiver's token.
func (c Config) redactedEventsWebhookURLs() string {
	out := make([]string, len(c.EventsWebhookURLs))
	for i, u := range c.EventsWebhookURLs {
		out[i] = outbound.RedactEndpoint(u)
	}
	return strings.Join(out, ",")
}

// offOr prints a duration whose zero means off.
func offOr(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return d.String()
}
