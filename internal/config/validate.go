package config

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/outbound"
)

// Validate checks the meaning of every value, in the order of SPEC §2, and
// returns an *Error about the first problem. Load calls it; code that builds a
// Config by hand (tests, dev mode) can too.
func (c Config) Validate() error {
	for _, check := range []func() *Error{
		c.checkPort, c.checkDatabase, c.checkStripe, c.checkURLs, c.checkAuth, c.checkCatalog, c.checkRateLimits, c.checkJobs, c.checkEvents, c.checkShutdown, c.checkProfiling,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// Below these, a deadline fails healthy transactions, reconcile would list
// Stripe's events more often than Stripe's rate limits like, and an event
// could be pruned while Stripe still retries it (up to three days).
const (
	minDBTimeout         = 100 * time.Millisecond
	minReconcileInterval = time.Minute
	minEventRetention    = 72 * time.Hour
)

func (c Config) checkJobs() *Error {
	switch {
	case c.DBTimeout < minDBTimeout:
		return problem("DB_TIMEOUT", "must be at least %v, got %v", minDBTimeout, c.DBTimeout)
	case c.ReconcileInterval != 0 && c.ReconcileInterval < minReconcileInterval:
		return problem("RECONCILE_INTERVAL", "must be off or at least %v, got %v", minReconcileInterval, c.ReconcileInterval)
	case c.EventRetention < minEventRetention:
		return problem("EVENT_RETENTION", "must be at least %v (Stripe retries an event for up to three days), got %v", minEventRetention, c.EventRetention)
	}
	return nil
}

// checkEvents: every endpoint is an absolute http(s) URL listed once (each
// gets each message once), and the signing secret comes exactly with them, in
// the form outbound.NewSigner, its one reader, accepts. An operator who sets
// a key without endpoints expects events, so that is refused too. Problems
// show an endpoint only redacted: it may carry the receiver's token.
func (c Config) checkEvents() *Error {
	seen := map[string]int{} // endpointKey → position, from 1
	for i, raw := range c.EventsWebhookURLs {
		key, reason := endpointKey(raw)
		if reason != "" {
			return problem("EVENTS_WEBHOOK_URL", "entry %d %s", i+1, reason)
		}
		if first, ok := seen[key]; ok {
			return problem("EVENTS_WEBHOOK_URL", "entry %d repeats entry %d (%s): list each endpoint once", i+1, first, outbound.RedactEndpoint(raw))
		}
		seen[key] = i + 1
	}
	hasURLs := len(c.EventsWebhookURLs) > 0
	switch {
	case hasURLs && c.EventsWebhookSecret == "":
		return problem("EVENTS_WEBHOOK_SECRET", "is required with EVENTS_WEBHOOK_URL")
	case !hasURLs && c.EventsWebhookSecret != "":
		return problem("EVENTS_WEBHOOK_SECRET", "is set but EVENTS_WEBHOOK_URL is not")
	case hasURLs:
		if _, err := outbound.NewSigner(c.EventsWebhookSecret); err != nil {
			return problem("EVENTS_WEBHOOK_SECRET", "%v", err) // never quotes the secret
		}
	}
	return nil
}

// endpointKey checks one EVENTS_WEBHOOK_URL entry. It returns what makes two
// entries the same endpoint (the URL with its host lower-cased; url.Parse
// lower-cases the scheme), or why the entry is not an endpoint. User info and
// a query are allowed: receivers put their tokens there.
func endpointKey(raw string) (key, reason string) {
	if raw == "" {
		return "", "is empty (a stray comma?)"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil: // not err itself: it quotes the URL
		return "", "is not a valid URL"
	case (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "":
		return "", "must be an absolute http(s) URL with a host, such as https://hooks.example.com/billingd"
	case strings.Contains(raw, "#"): // once parsed, any '#' starts a fragment, even an empty one
		return "", "must not have a #fragment (it is never sent)"
	}
	u.Host = strings.ToLower(u.Host)
	return u.String(), ""
}

func (c Config) checkPort() *Error {
	if c.Port < 1 || c.Port > 65535 {
		return problem("PORT", "%s, got %d", portProblem, c.Port)
	}
	return nil
}

// checkDatabase: Load parses DATABASE_URL (and reports a bad one); a Config
// built by hand must set Database with store.ParseURL.
func (c Config) checkDatabase() *Error {
	if c.Database.Dialect() == "" {
		return problem("DATABASE_URL", "is required")
	}
	return nil
}

// stripeKeyPrefixes are the secret keys billingd can use; a publishable key
// (pk_) is a common mistake.
var stripeKeyPrefixes = []string{"sk_test_", "sk_live_", "rk_"}

func (c Config) checkStripe() *Error {
	switch {
	case c.StripeSecretKey == "":
		return problem("STRIPE_SECRET_KEY", "is required")
	case !hasPrefixWithRest(c.StripeSecretKey, stripeKeyPrefixes...):
		return problem("STRIPE_SECRET_KEY", "must start with sk_test_, sk_live_ or rk_")
	case c.StripeWebhookSecret == "":
		return problem("STRIPE_WEBHOOK_SECRET", "is required")
	case !hasPrefixWithRest(c.StripeWebhookSecret, "whsec_"):
		return problem("STRIPE_WEBHOOK_SECRET", "must start with whsec_")
	case c.StripeAPIBase != "" && !isHTTPURL(c.StripeAPIBase, false):
		return problem("STRIPE_API_BASE", "must be an absolute http(s) URL such as http://localhost:12111, got %q", c.StripeAPIBase)
	}
	return nil
}

func (c Config) checkURLs() *Error {
	if !isHTTPURL(c.AppURL, true) {
		return problem("APP_URL", "must be an absolute http(s) URL without query or fragment, got %q", c.AppURL)
	}
	if len(c.AllowedRedirectOrigins) == 0 {
		return problem("ALLOWED_REDIRECT_ORIGINS", "must list at least one origin")
	}
	for _, o := range c.AllowedRedirectOrigins {
		if n, err := parseOrigin(o); err != nil || n != o {
			return problem("ALLOWED_REDIRECT_ORIGINS", "must hold normalised origins like https://app.example.com, got %q", o)
		}
	}
	return c.checkCORS()
}

func (c Config) checkCORS() *Error {
	if len(c.CORSAllowedOrigins) == 1 && c.CORSAllowedOrigins[0] == AnyOrigin {
		return nil
	}
	for _, o := range c.CORSAllowedOrigins {
		if n, err := parseOrigin(o); err != nil || n != o {
			return problem("CORS_ALLOWED_ORIGINS", "must be * or hold normalised origins like https://app.example.com, got %q", o)
		}
	}
	return nil
}

func (c Config) checkAuth() *Error {
	switch {
	case c.AuthJWTSecret == "" && c.AuthJWKSURL == "":
		return problem("AUTH_JWT_SECRET", "or AUTH_JWKS_URL is required (at least one)")
	case c.AuthJWTSecret != "" && len(c.AuthJWTSecret) < auth.MinHS256SecretBytes:
		return problem("AUTH_JWT_SECRET", "must be at least %d bytes", auth.MinHS256SecretBytes)
	case c.AuthJWKSURL != "" && !isHTTPURL(c.AuthJWKSURL, false):
		return problem("AUTH_JWKS_URL", "must be an absolute http(s) URL, got %q", c.AuthJWKSURL)
	case c.AuthOrgClaim == "":
		return problem("AUTH_ORG_CLAIM", "must not be empty")
	}
	return nil
}

func (c Config) checkCatalog() *Error {
	if c.Catalog == nil {
		return problem("PLANS_FILE", "gave no catalog")
	}
	if d := c.CheckoutTrialDays; d != nil && (*d < 0 || *d > 730) {
		return problem("CHECKOUT_TRIAL_DAYS", "%s, got %d", trialDaysProblem, *d)
	}
	return nil
}

func (c Config) checkShutdown() *Error {
	switch {
	case c.ShutdownTimeout <= 0:
		return problem("SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	case c.ShutdownDelay < 0:
		return problem("SHUTDOWN_DELAY", "must not be negative, got %s", c.ShutdownDelay)
	case c.ShutdownDelay >= c.ShutdownTimeout: // in-flight requests need time after the delay
		return problem("SHUTDOWN_DELAY", "must be shorter than SHUTDOWN_TIMEOUT (%s), got %s", c.ShutdownTimeout, c.ShutdownDelay)
	}
	return nil
}

// checkProfiling: PPROF_ADDR is unset, or an address net.Listen takes as is.
// The host is required: ":6060", Go's usual spelling, would listen on every
// interface, and the profiling endpoints must not be reachable from outside.
func (c Config) checkProfiling() *Error {
	if c.PprofAddr != "" && !isListenAddr(c.PprofAddr) {
		return problem("PPROF_ADDR", "%s, got %q", pprofAddrProblem, c.PprofAddr)
	}
	return nil
}

// isListenAddr reports whether s is host:port with an IP address or a host
// name and a decimal port from 0 to 65535 (no service names such as http).
func isListenAddr(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !isDecimalPort(port) {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return isHostName(host)
}

func isDecimalPort(s string) bool {
	if s == "" || len(s) > len("65535") || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n <= 65535
}

// isHostName reports whether s is dot-separated labels of letters, digits and
// inner hyphens, as DNS names are.
func isHostName(s string) bool {
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false
		}
	}
	return true
}

func (c Config) checkRateLimits() *Error {
	if !c.CheckoutRateLimit.valid() {
		return problem("CHECKOUT_RATE_LIMIT", "%s, got %q", rateLimitProblem, c.CheckoutRateLimit.raw())
	}
	if !c.PollRateLimit.valid() {
		return problem("POLL_RATE_LIMIT", "%s, got %q", rateLimitProblem, c.PollRateLimit.raw())
	}
	if !c.ServiceRateLimit.valid() {
		return problem("SERVICE_RATE_LIMIT", "%s, got %q", rateLimitProblem, c.ServiceRateLimit.raw())
	}
	return nil
}

// isHTTPURL reports whether s is an absolute http(s) URL with a host and no
// user info or fragment (and, when strict, no query either).
func isHTTPURL(s string, strict bool) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return false
	}
	return !strict || (u.RawQuery == "" && !u.ForceQuery)
}

// hasPrefixWithRest reports whether s starts with one of prefixes and has
// something after it.
func hasPrefixWithRest(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if len(s) > len(p) && strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
