package config_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/store"
)

// Distinctive secret values, so a leak into an error or String() is caught.
const (
	stripeKey     = "sk_test_LEAKCHECKstripekey123"
	webhookSecret = "whsec_LEAKCHECKwebhook456"
	jwtSecret     = "LEAKCHECK-jwt-secret-0123456789-0123456789"
	dbPassword    = "LEAKCHECKdbpass"
	// eventsSecret is a valid Standard Webhooks secret: whsec_ and 30 bytes
	// of base64.
	eventsSecret = "whsec_LEAKCHECKeventsSecret0123456789abcdefghi"
	// hookToken and hookPassword are a receiver's credentials in the query
	// and the user info of an EVENTS_WEBHOOK_URL.
	hookToken    = "LEAKCHECKhooktoken"
	hookPassword = "LEAKCHECKhookpass"
)

var secrets = []string{"LEAKCHECK", stripeKey, webhookSecret, jwtSecret, dbPassword, eventsSecret, hookToken, hookPassword}

// hookURL is a valid EVENTS_WEBHOOK_URL entry.
const hookURL = "https://hooks.example.com/billingd"

// getenv returns the minimal valid environment with overrides; an override of
// "" unsets the variable.
func getenv(overrides map[string]string) func(string) string {
	env := map[string]string{
		"STRIPE_SECRET_KEY":     stripeKey,
		"STRIPE_WEBHOOK_SECRET": webhookSecret,
		"AUTH_JWT_SECRET":       jwtSecret,
	}
	for k, v := range overrides {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func mustLoad(t *testing.T, overrides map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(getenv(overrides))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	checks := []field{
		{"PORT", c.Port, 8080},
		{"DATABASE_URL", c.DatabaseURL, "sqlite:billing.db"},
		{"STRIPE_API_BASE", c.StripeAPIBase, ""},
		{"APP_URL", c.AppURL, "http://localhost:3000"},
		{"ALLOWED_REDIRECT_ORIGINS", c.AllowedRedirectOrigins, []string{"http://localhost:3000"}},
		{"AUTH_JWKS_URL", c.AuthJWKSURL, ""},
		{"AUTH_ISSUER", c.AuthIssuer, ""},
		{"AUTH_AUDIENCE", c.AuthAudience, ""},
		{"AUTH_ORG_CLAIM", c.AuthOrgClaim, "org_id"},
		{"PLANS_FILE", c.PlansFile, ""},
		{"CHECKOUT_TRIAL_DAYS", c.CheckoutTrialDays, (*int)(nil)},
		{"catalog pro trial", trialDays(t, c, "pro"), 14},
		{"catalog team trial", trialDays(t, c, "team"), 0},
		{"PAST_DUE_ACCESS", c.PastDueAccess, true},
		{"AUTOMATIC_TAX", c.AutomaticTax, false},
		{"CHECKOUT_RATE_LIMIT", c.CheckoutRateLimit, config.RateLimit{Count: 10, Per: time.Minute}},
		{"POLL_RATE_LIMIT", c.PollRateLimit, config.RateLimit{Count: 600, Per: time.Minute}},
		{"SERVICE_RATE_LIMIT", c.ServiceRateLimit, config.RateLimit{}},
		{"CORS_ALLOWED_ORIGINS", c.CORSAllowedOrigins, []string{"http://localhost:3000"}},
		{"DB_TIMEOUT", c.DBTimeout, 5 * time.Second},
		{"RECONCILE_INTERVAL", c.ReconcileInterval, 15 * time.Minute},
		{"EVENT_RETENTION", c.EventRetention, 720 * time.Hour},
		{"EVENTS_WEBHOOK_URL", c.EventsWebhookURLs, []string(nil)},
		{"EVENTS_WEBHOOK_SECRET", c.EventsWebhookSecret, ""},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 30 * time.Second},
		{"SHUTDOWN_DELAY", c.ShutdownDelay, 5 * time.Second},
		{"LOG_LEVEL", c.LogLevel, slog.LevelInfo},
		{"PPROF_ADDR", c.PprofAddr, ""},
	}
	assertFields(t, checks)
}

type field struct {
	name      string
	got, want any
}

func assertFields(t *testing.T, fields []field) {
	t.Helper()
	for _, f := range fields {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s = %#v, want %#v", f.name, f.got, f.want)
		}
	}
}

func trialDays(t *testing.T, c config.Config, slug string) int {
	t.Helper()
	p, ok := c.Catalog.Plan(slug)
	if !ok {
		t.Fatalf("plan %q not in catalog", slug)
	}
	return p.TrialDays
}

func TestLoadValues(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"PORT":                     " 9090 ",
		"DATABASE_URL":             "postgres://billing:" + dbPassword + "@db:5432/billing?sslmode=disable",
		"STRIPE_SECRET_KEY":        "rk_live_abc",
		"STRIPE_API_BASE":          "http://localhost:12111/",
		"APP_URL":                  "https://app.example.com/",
		"ALLOWED_REDIRECT_ORIGINS": "HTTPS://App.Example.com:443/, https://admin.example.com:8443,,https://app.example.com",
		"AUTH_JWT_SECRET":          "",
		"AUTH_JWKS_URL":            "https://idp.example.com/.well-known/jwks.json",
		"AUTH_ISSUER":              "https://idp.example.com/",
		"AUTH_AUDIENCE":            "billingd",
		"AUTH_ORG_CLAIM":           "https://example.com/org",
		"CHECKOUT_TRIAL_DAYS":      "7",
		"PAST_DUE_ACCESS":          "0",
		"AUTOMATIC_TAX":            "TRUE",
		"CHECKOUT_RATE_LIMIT":      "5/1s",
		"POLL_RATE_LIMIT":          "off",
		"SERVICE_RATE_LIMIT":       "100/1s",
		"CORS_ALLOWED_ORIGINS":     "https://www.example.com, HTTP://LOCALHOST:5173/",
		"DB_TIMEOUT":               "2s",
		"RECONCILE_INTERVAL":       "off",
		"EVENT_RETENTION":          "96h",
		"EVENTS_WEBHOOK_URL":       " " + hookURL + "?token=" + hookToken + " , http://billingd:" + hookPassword + "@Hooks.Example.net:8080/in ",
		"EVENTS_WEBHOOK_SECRET":    eventsSecret + "\n",
		"SHUTDOWN_TIMEOUT":         "5s",
		"SHUTDOWN_DELAY":           "0s",
		"LOG_LEVEL":                "DEBUG",
		"PPROF_ADDR":               " 127.0.0.1:6060 ",
	})
	checks := []field{
		{"PORT", c.Port, 9090},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey, "rk_live_abc"},
		{"STRIPE_API_BASE", c.StripeAPIBase, "http://localhost:12111"},
		{"APP_URL", c.AppURL, "https://app.example.com"},
		{"ALLOWED_REDIRECT_ORIGINS", c.AllowedRedirectOrigins, []string{"https://app.example.com", "https://admin.example.com:8443"}},
		{"AUTH_JWKS_URL", c.AuthJWKSURL, "https://idp.example.com/.well-known/jwks.json"},
		{"AUTH_ISSUER", c.AuthIssuer, "https://idp.example.com/"},
		{"AUTH_AUDIENCE", c.AuthAudience, "billingd"},
		{"AUTH_ORG_CLAIM", c.AuthOrgClaim, "https://example.com/org"},
		{"CHECKOUT_TRIAL_DAYS", *c.CheckoutTrialDays, 7},
		{"catalog pro trial", trialDays(t, c, "pro"), 7},
		{"catalog team trial", trialDays(t, c, "team"), 7},
		{"PAST_DUE_ACCESS", c.PastDueAccess, false},
		{"AUTOMATIC_TAX", c.AutomaticTax, true},
		{"CHECKOUT_RATE_LIMIT", c.CheckoutRateLimit, config.RateLimit{Count: 5, Per: time.Second}},
		{"POLL_RATE_LIMIT", c.PollRateLimit, config.RateLimit{}},
		{"SERVICE_RATE_LIMIT", c.ServiceRateLimit, config.RateLimit{Count: 100, Per: time.Second}},
		{"CORS_ALLOWED_ORIGINS", c.CORSAllowedOrigins, []string{"https://www.example.com", "http://localhost:5173"}},
		{"DB_TIMEOUT", c.DBTimeout, 2 * time.Second},
		{"RECONCILE_INTERVAL", c.ReconcileInterval, time.Duration(0)},
		{"EVENT_RETENTION", c.EventRetention, 96 * time.Hour},
		{"EVENTS_WEBHOOK_URL", c.EventsWebhookURLs, []string{hookURL + "?token=" + hookToken, "http://billingd:" + hookPassword + "@Hooks.Example.net:8080/in"}},
		{"EVENTS_WEBHOOK_SECRET", c.EventsWebhookSecret, eventsSecret},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 5 * time.Second},
		{"SHUTDOWN_DELAY", c.ShutdownDelay, time.Duration(0)},
		{"LOG_LEVEL", c.LogLevel, slog.LevelDebug},
		{"PPROF_ADDR", c.PprofAddr, "127.0.0.1:6060"},
	}
	assertFields(t, checks)
}

// loadErrorTest is an environment Load must refuse, and the whole error line.
type loadErrorTest struct {
	name string
	env  map[string]string
	want string
}

// assertLoadErrors runs each test: Load fails with exactly the line wanted,
// as a *config.Error naming the variable, and without any secret in it.
func assertLoadErrors(t *testing.T, tests []loadErrorTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(getenv(tt.env))
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err, tt.want)
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) || !strings.HasPrefix(tt.want, "config: "+cerr.Var+" ") {
				t.Fatalf("error %#v is not a *config.Error naming the variable", err)
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func TestLoadErrors(t *testing.T) {
	assertLoadErrors(t, []loadErrorTest{
		{"PortNotInteger", map[string]string{"PORT": "abc"}, `config: PORT must be an integer between 1 and 65535, got "abc"`},
		{"PortOutOfRange", map[string]string{"PORT": "70000"}, `config: PORT must be an integer between 1 and 65535, got 70000`},
		{"PortZero", map[string]string{"PORT": "0"}, `config: PORT must be an integer between 1 and 65535, got 0`},
		{"DatabaseScheme", map[string]string{"DATABASE_URL": "mysql://u:" + dbPassword + "@h/db"}, `config: DATABASE_URL must be postgres://…, postgresql://…, sqlite:PATH or sqlite::memory:`},
		{"DatabaseSQLiteNoPath", map[string]string{"DATABASE_URL": "sqlite:"}, `config: DATABASE_URL sqlite: needs a file path, e.g. sqlite:billing.db`},
		{"DatabasePostgresNoHost", map[string]string{"DATABASE_URL": "postgres://"}, `config: DATABASE_URL is not a valid PostgreSQL URL (postgres://user:pass@host:port/db)`},
		{"StripeKeyMissing", map[string]string{"STRIPE_SECRET_KEY": ""}, `config: STRIPE_SECRET_KEY is required`},
		{"StripeKeyPublishable", map[string]string{"STRIPE_SECRET_KEY": "pk_test_LEAKCHECK"}, `config: STRIPE_SECRET_KEY must start with sk_test_, sk_live_ or rk_`},
		{"StripeKeyPrefixOnly", map[string]string{"STRIPE_SECRET_KEY": "sk_test_"}, `config: STRIPE_SECRET_KEY must start with sk_test_, sk_live_ or rk_`},
		{"WebhookSecretMissing", map[string]string{"STRIPE_WEBHOOK_SECRET": ""}, `config: STRIPE_WEBHOOK_SECRET is required`},
		{"WebhookSecretPrefix", map[string]string{"STRIPE_WEBHOOK_SECRET": "LEAKCHECK"}, `config: STRIPE_WEBHOOK_SECRET must start with whsec_`},
		{"StripeAPIBaseRelative", map[string]string{"STRIPE_API_BASE": "localhost:12111"}, `config: STRIPE_API_BASE must be an absolute http(s) URL such as http://localhost:12111, got "localhost:12111"`},
		{"AppURLNotHTTP", map[string]string{"APP_URL": "ftp://app.example.com"}, `config: APP_URL must be an absolute http(s) URL without query or fragment, got "ftp://app.example.com"`},
		{"AppURLQuery", map[string]string{"APP_URL": "https://app.example.com?x=1"}, `config: APP_URL must be an absolute http(s) URL without query or fragment, got "https://app.example.com?x=1"`},
		{"OriginWithPath", map[string]string{"ALLOWED_REDIRECT_ORIGINS": "https://a.example.com,https://b.example.com/path"}, `config: ALLOWED_REDIRECT_ORIGINS must be a comma list of origins like https://app.example.com, got "https://b.example.com/path"`},
		{"OriginNotHTTP", map[string]string{"ALLOWED_REDIRECT_ORIGINS": "javascript:alert(1)"}, `config: ALLOWED_REDIRECT_ORIGINS must be a comma list of origins like https://app.example.com, got "javascript:alert(1)"`},
		{"OriginUserInfo", map[string]string{"ALLOWED_REDIRECT_ORIGINS": "https://a.example.com@evil.com"}, `config: ALLOWED_REDIRECT_ORIGINS must be a comma list of origins like https://app.example.com, got "https://a.example.com@evil.com"`},
		{"OriginsEmptyList", map[string]string{"ALLOWED_REDIRECT_ORIGINS": " , "}, `config: ALLOWED_REDIRECT_ORIGINS must list at least one origin`},
		{"CORSOriginWithPath", map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example.com/app"}, `config: CORS_ALLOWED_ORIGINS must be a comma list of origins like https://app.example.com, got "https://a.example.com/app"`},
		{"CORSWildcardInList", map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example.com,*"}, `config: CORS_ALLOWED_ORIGINS must be a comma list of origins like https://app.example.com, got "*"`},
		{"AuthMissing", map[string]string{"AUTH_JWT_SECRET": ""}, `config: AUTH_JWT_SECRET or AUTH_JWKS_URL is required (at least one)`},
		{"AuthSecretShort", map[string]string{"AUTH_JWT_SECRET": "LEAKCHECK-short"}, `config: AUTH_JWT_SECRET must be at least 32 bytes`},
		{"AuthJWKSURL", map[string]string{"AUTH_JWKS_URL": "/jwks.json"}, `config: AUTH_JWKS_URL must be an absolute http(s) URL, got "/jwks.json"`},
		{"TrialDaysNotInteger", map[string]string{"CHECKOUT_TRIAL_DAYS": "two"}, `config: CHECKOUT_TRIAL_DAYS must be an integer between 0 and 730, got "two"`},
		{"TrialDaysNegative", map[string]string{"CHECKOUT_TRIAL_DAYS": "-1"}, `config: CHECKOUT_TRIAL_DAYS must be an integer between 0 and 730, got -1`},
		{"TrialDaysTooMany", map[string]string{"CHECKOUT_TRIAL_DAYS": "731"}, `config: CHECKOUT_TRIAL_DAYS must be an integer between 0 and 730, got 731`},
		{"PastDueAccess", map[string]string{"PAST_DUE_ACCESS": "yes"}, `config: PAST_DUE_ACCESS must be true, false, 1 or 0, got "yes"`},
		{"AutomaticTax", map[string]string{"AUTOMATIC_TAX": "on"}, `config: AUTOMATIC_TAX must be true, false, 1 or 0, got "on"`},
		{"DBTimeoutSyntax", map[string]string{"DB_TIMEOUT": "5"}, `config: DB_TIMEOUT must be a Go duration such as 30s or 1m, got "5"`},
		{"DBTimeoutTooShort", map[string]string{"DB_TIMEOUT": "1ms"}, `config: DB_TIMEOUT must be at least 100ms, got 1ms`},
		{"ReconcileIntervalSyntax", map[string]string{"RECONCILE_INTERVAL": "never"}, `config: RECONCILE_INTERVAL must be a Go duration such as 15m, or off, got "never"`},
		{"ReconcileIntervalTooShort", map[string]string{"RECONCILE_INTERVAL": "5s"}, `config: RECONCILE_INTERVAL must be off or at least 1m0s, got 5s`},
		{"EventRetentionTooShort", map[string]string{"EVENT_RETENTION": "24h"}, `config: EVENT_RETENTION must be at least 72h0m0s (Stripe retries an event for up to three days), got 24h0m0s`},
		{"ShutdownTimeoutSyntax", map[string]string{"SHUTDOWN_TIMEOUT": "30"}, `config: SHUTDOWN_TIMEOUT must be a Go duration such as 30s or 1m, got "30"`},
		{"ShutdownTimeoutNegative", map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, `config: SHUTDOWN_TIMEOUT must be positive, got -1s`},
		{"CheckoutRateLimitNoPeriod", map[string]string{"CHECKOUT_RATE_LIMIT": "10"}, `config: CHECKOUT_RATE_LIMIT ` + rateLimitRule + `, got "10"`},
		{"CheckoutRateLimitBadDuration", map[string]string{"CHECKOUT_RATE_LIMIT": "10/minute"}, `config: CHECKOUT_RATE_LIMIT ` + rateLimitRule + `, got "10/minute"`},
		{"CheckoutRateLimitZeroCount", map[string]string{"CHECKOUT_RATE_LIMIT": "0/1m"}, `config: CHECKOUT_RATE_LIMIT ` + rateLimitRule + `, got "0/1m"`},
		{"CheckoutRateLimitNegativeCount", map[string]string{"CHECKOUT_RATE_LIMIT": "-1/1m"}, `config: CHECKOUT_RATE_LIMIT ` + rateLimitRule + `, got "-1/1m"`},
		{"CheckoutRateLimitZeroPeriod", map[string]string{"CHECKOUT_RATE_LIMIT": "10/0s"}, `config: CHECKOUT_RATE_LIMIT ` + rateLimitRule + `, got "10/0s"`},
		{"PollRateLimitNotNumber", map[string]string{"POLL_RATE_LIMIT": "many/1m"}, `config: POLL_RATE_LIMIT ` + rateLimitRule + `, got "many/1m"`},
		{"PollRateLimitNegativePeriod", map[string]string{"POLL_RATE_LIMIT": "5/-1s"}, `config: POLL_RATE_LIMIT ` + rateLimitRule + `, got "5/-1s"`},
		{"ServiceRateLimitNotNumber", map[string]string{"SERVICE_RATE_LIMIT": "lots"}, `config: SERVICE_RATE_LIMIT ` + rateLimitRule + `, got "lots"`},
		{"ShutdownDelaySyntax", map[string]string{"SHUTDOWN_DELAY": "5"}, `config: SHUTDOWN_DELAY must be a Go duration such as 30s or 1m, got "5"`},
		{"ShutdownDelayNegative", map[string]string{"SHUTDOWN_DELAY": "-1s"}, `config: SHUTDOWN_DELAY must not be negative, got -1s`},
		{"ShutdownDelayNotShorter", map[string]string{"SHUTDOWN_DELAY": "30s"}, `config: SHUTDOWN_DELAY must be shorter than SHUTDOWN_TIMEOUT (30s), got 30s`},
		{"ShutdownDelayLonger", map[string]string{"SHUTDOWN_TIMEOUT": "10s", "SHUTDOWN_DELAY": "1m"}, `config: SHUTDOWN_DELAY must be shorter than SHUTDOWN_TIMEOUT (10s), got 1m0s`},
		{"LogLevel", map[string]string{"LOG_LEVEL": "verbose"}, `config: LOG_LEVEL must be debug, info, warn or error, got "verbose"`},
		{"PlansFileExtension", map[string]string{"PLANS_FILE": "plans.toml"}, `config: PLANS_FILE "plans.toml": must end in .yaml, .yml or .json, not ".toml"`},
		{"PlansFileMissing", map[string]string{"PLANS_FILE": "/nonexistent/plans.yaml"}, `config: PLANS_FILE "/nonexistent/plans.yaml": no such file or directory`},
		{"FirstProblemWins", map[string]string{"PORT": "x", "STRIPE_SECRET_KEY": ""}, `config: PORT must be an integer between 1 and 65535, got "x"`},
		{"NothingSetNamesStripeKey", map[string]string{"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": "", "AUTH_JWT_SECRET": ""}, `config: STRIPE_SECRET_KEY is required`},
	})
}

const pprofAddrRule = "must be host:port with a host and a port between 0 and 65535 (0: any free port), such as 127.0.0.1:6060"

// PPROF_ADDR is any address net.Listen takes with a host and a numeric port;
// port 0 asks for a free one. The loaded address is what is printed.
func TestLoadPprofAddr(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:6060", "127.0.0.1:0", "localhost:6060", "[::1]:6060", "0.0.0.0:65535", "pprof.internal:6060"} {
		t.Run(addr, func(t *testing.T) {
			c := mustLoad(t, map[string]string{"PPROF_ADDR": addr})
			assertFields(t, []field{{"PPROF_ADDR", c.PprofAddr, addr}})
			if want := `PPROF_ADDR="` + addr + `"`; !strings.Contains(c.String(), want) {
				t.Errorf("String() lacks %s:\n%s", want, c)
			}
		})
	}
	t.Run("UnsetIsOff", func(t *testing.T) {
		c := mustLoad(t, map[string]string{"PPROF_ADDR": "  "})
		assertFields(t, []field{{"PPROF_ADDR", c.PprofAddr, ""}})
	})
}

func TestLoadPprofAddrErrors(t *testing.T) {
	var tests []loadErrorTest
	for _, tt := range []struct{ name, addr string }{
		{"NoPort", "127.0.0.1"},
		{"PortOnly", "6060"},
		{"NoHost", ":6060"},
		{"EmptyPort", "127.0.0.1:"},
		{"PortTooLarge", "127.0.0.1:65536"},
		{"PortNegative", "127.0.0.1:-1"},
		{"PortSigned", "127.0.0.1:+6060"},
		{"PortName", "localhost:http"},
		{"URL", "http://127.0.0.1:6060"},
		{"Path", "127.0.0.1:6060/debug/pprof/"},
		{"IPv6NoBrackets", "::1:6060"},
		{"HostSpace", "local host:6060"},
		{"HostHyphen", "-pprof:6060"},
	} {
		tests = append(tests, loadErrorTest{tt.name, map[string]string{"PPROF_ADDR": tt.addr}, `config: PPROF_ADDR ` + pprofAddrRule + `, got "` + tt.addr + `"`})
	}
	assertLoadErrors(t, tests)
}

// events is the environment for billingd's own events: endpoints and secret.
func events(urls, secret string) map[string]string {
	return map[string]string{"EVENTS_WEBHOOK_URL": urls, "EVENTS_WEBHOOK_SECRET": secret}
}

const endpointRule = "must be an absolute http(s) URL with a host, such as https://hooks.example.com/billingd"

func TestLoadEventsErrors(t *testing.T) {
	assertLoadErrors(t, []loadErrorTest{
		{"URLEmptyEntry", events(hookURL+",", eventsSecret), `config: EVENTS_WEBHOOK_URL entry 2 is empty (a stray comma?)`},
		{"URLOnlyCommas", events(" , ", eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 is empty (a stray comma?)`},
		{"URLNotHTTP", events("ftp://hooks.example.com/in", eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 ` + endpointRule},
		{"URLRelative", events(hookURL+",/hooks/billingd", eventsSecret), `config: EVENTS_WEBHOOK_URL entry 2 ` + endpointRule},
		{"URLNoScheme", events("hooks.example.com:8443/in?token="+hookToken, eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 ` + endpointRule},
		{"URLNoHost", events("https:///in", eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 ` + endpointRule},
		{"URLFragment", events(hookURL+"#"+hookToken, eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 must not have a #fragment (it is never sent)`},
		{"URLEmptyFragment", events(hookURL+"#", eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 must not have a #fragment (it is never sent)`},
		{"URLMalformed", events("https://hooks.example.com/%zz?token="+hookToken, eventsSecret), `config: EVENTS_WEBHOOK_URL entry 1 is not a valid URL`},
		{"URLDuplicate", events(hookURL+"?token="+hookToken+", https://other.example.com/in, https://HOOKS.example.com/billingd?token="+hookToken, eventsSecret),
			`config: EVENTS_WEBHOOK_URL entry 3 repeats entry 1 (https://HOOKS.example.com/billingd): list each endpoint once`},
		{"URLBeforeSecret", events("ftp://hooks.example.com/in", ""), `config: EVENTS_WEBHOOK_URL entry 1 ` + endpointRule},
		{"SecretMissing", events(hookURL, ""), `config: EVENTS_WEBHOOK_SECRET is required with EVENTS_WEBHOOK_URL`},
		{"SecretWithoutURL", events("", eventsSecret), `config: EVENTS_WEBHOOK_SECRET is set but EVENTS_WEBHOOK_URL is not`},
		{"SecretWithoutURLMalformed", events("", "LEAKCHECK"), `config: EVENTS_WEBHOOK_SECRET is set but EVENTS_WEBHOOK_URL is not`},
		{"SecretPrefix", events(hookURL, "LEAKCHECKeventsSecret0123456789abcdefghi"), `config: EVENTS_WEBHOOK_SECRET must start with whsec_`},
		{"SecretStripeStyle", events(hookURL, "whsec_LEAKCHECK_not-base64!"), `config: EVENTS_WEBHOOK_SECRET must be whsec_ followed by standard base64`},
		{"SecretShortKey", events(hookURL, "whsec_LEAKCHECKabc"), `config: EVENTS_WEBHOOK_SECRET key must be 24 to 64 bytes, got 9`},
		{"SecretPrefixOnly", events(hookURL, "whsec_"), `config: EVENTS_WEBHOOK_SECRET key must be 24 to 64 bytes, got 0`},
	})
}

// A Config built by hand is held to the same rules as a loaded one.
func TestValidateEvents(t *testing.T) {
	c := mustLoad(t, events(hookURL, eventsSecret))
	c.EventsWebhookURLs = append(c.EventsWebhookURLs, "")
	if err := c.Validate(); err == nil || err.Error() != `config: EVENTS_WEBHOOK_URL entry 2 is empty (a stray comma?)` {
		t.Fatalf("Validate with an empty endpoint = %v", err)
	}
	c.EventsWebhookURLs = nil
	if err := c.Validate(); err == nil || err.Error() != `config: EVENTS_WEBHOOK_SECRET is set but EVENTS_WEBHOOK_URL is not` {
		t.Fatalf("Validate with a secret and no endpoint = %v", err)
	}
}

func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Fatalf("%q contains the secret %q", s, secret)
		}
	}
}

func TestStringMasksSecrets(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"DATABASE_URL":          "postgres://billing:" + dbPassword + "@db:5432/billing?password=" + dbPassword,
		"EVENTS_WEBHOOK_URL":    hookURL + "?token=" + hookToken + ",https://billingd:" + hookPassword + "@hooks.example.net/in",
		"EVENTS_WEBHOOK_SECRET": eventsSecret,
	})
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for name, out := range map[string]string{"String": c.String(), "slog": logged.String()} {
		t.Run(name, func(t *testing.T) {
			assertNoSecrets(t, out)
			for _, want := range []string{"sk_test_…(masked)", "whsec_…(masked)", "(masked)", "PORT", "8080", "pro,team", "EVENTS_WEBHOOK_SECRET"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s output lacks %q:\n%s", name, want, out)
				}
			}
		})
	}
	// Endpoints keep scheme, host and path, so an operator can tell them apart.
	for _, want := range []string{
		`EVENTS_WEBHOOK_URL="https://hooks.example.com/billingd,https://hooks.example.net/in"`,
		`EVENTS_WEBHOOK_SECRET="whsec_…(masked)"`,
	} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("String() lacks %s:\n%s", want, c)
		}
	}
}

func TestPlansFile(t *testing.T) {
	files := map[string]string{
		"list.yaml": `
- slug: starter
  name: Starter
  trialDays: 7
  lookupKeys: {month: starter_monthly}
  features: [projects.basic]
`,
		"wrapped.yml": `
plans:
  - slug: starter
    name: Starter
    trialDays: 7
    lookupKeys: {month: starter_monthly, year: starter_yearly}
  - slug: scale
    perSeat: true
    maxSeats: 50
    lookupKeys: {month: scale_monthly}
`,
		"list.json":    `[{"slug":"starter","name":"Starter","trialDays":7,"lookupKeys":{"month":"starter_monthly"}}]`,
		"wrapped.json": `{"plans":[{"slug":"starter","trialDays":7,"lookupKeys":{"year":"starter_yearly"}}]}`,
		"dup.yaml":     "- {slug: a, lookupKeys: {month: k}}\n- {slug: a, lookupKeys: {year: k2}}\n",
		"typo.json":    `[{"slug":"starter","lookup_keys":{"month":"starter_monthly"}}]`,
		"typo.yaml":    "plans:\n  - slug: starter\n    lookup_keys: {month: starter_monthly}\n",
		"interval.yml": "- {slug: a, lookupKeys: {week: a_weekly}}\n",
		"empty.json":   `{"plans": []}`,
	}
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"list.yaml", "wrapped.yml", "list.json", "wrapped.json"} {
		t.Run("OK/"+name, func(t *testing.T) {
			c := mustLoad(t, map[string]string{"PLANS_FILE": filepath.Join(dir, name)})
			if got := trialDays(t, c, "starter"); got != 7 {
				t.Fatalf("starter trial days = %d, want 7", got)
			}
			if _, ok := c.Catalog.Plan("pro"); ok {
				t.Fatal("the built-in pro plan leaked into a file catalog")
			}
		})
	}
	t.Run("OK/TrialDaysOverride", func(t *testing.T) {
		c := mustLoad(t, map[string]string{"PLANS_FILE": filepath.Join(dir, "wrapped.yml"), "CHECKOUT_TRIAL_DAYS": "0"})
		if trialDays(t, c, "starter") != 0 || trialDays(t, c, "scale") != 0 {
			t.Fatal("CHECKOUT_TRIAL_DAYS=0 not applied to every plan")
		}
	})
	for name, want := range map[string]string{
		"dup.yaml":     `plan "a" is listed twice`,
		"typo.json":    `unknown field "lookup_keys"`,
		"typo.yaml":    `field lookup_keys not found`,
		"interval.yml": `interval "week" is not month or year`,
		"empty.json":   `the plan catalog is empty`,
	} {
		t.Run("Err/"+name, func(t *testing.T) {
			_, err := config.Load(getenv(map[string]string{"PLANS_FILE": filepath.Join(dir, name)}))
			var cerr *config.Error
			if !errors.As(err, &cerr) || cerr.Var != "PLANS_FILE" || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one PLANS_FILE line containing %q", err, want)
			}
		})
	}
}

func TestRedirectAllowed(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"ALLOWED_REDIRECT_ORIGINS": "https://app.example.com,http://localhost:3000,https://[::1]:8443",
	})
	tests := []struct {
		url  string
		want bool
	}{
		{"https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}", true},
		{"https://app.example.com", true},
		{"https://APP.example.com:443/x", true},
		{"HTTPS://app.example.com/x", true},
		{"http://localhost:3000/billing", true},
		{"https://[::1]:8443/x", true},
		{"https://app.example.com.evil.com/x", false},
		{"https://evil.com/app.example.com", false},
		{"https://app.example.com@evil.com/x", false},
		{"https://user:pass@app.example.com/x", false},
		{"https://evil.com\\@app.example.com/x", false},
		{"https://evil.com\\.app.example.com/x", false},
		{"http://app.example.com/x", false},
		{"https://app.example.com:8443/x", false},
		{"http://localhost:3001/x", false},
		{"https://localhost:3000/x", false},
		{"//app.example.com/x", false},
		{"/billing", false},
		{"app.example.com/x", false},
		{"https:/app.example.com/x", false},
		{"https:app.example.com", false},
		{"javascript://app.example.com/%0aalert(1)", false},
		{" https://app.example.com/x", false},
		{"https://app.example.com\t/x", false},
		{"https://sub.app.example.com/x", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if got := c.RedirectAllowed(tt.url); got != tt.want {
				t.Fatalf("RedirectAllowed(%q) = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

func TestDefaultURLs(t *testing.T) {
	for _, appURL := range []string{"https://app.example.com", "https://app.example.com/"} {
		c := mustLoad(t, map[string]string{"APP_URL": appURL})
		if got, want := c.DefaultSuccessURL(), "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}"; got != want {
			t.Errorf("APP_URL=%s: DefaultSuccessURL = %q, want %q", appURL, got, want)
		}
		if got, want := c.DefaultCancelURL(), "https://app.example.com/billing"; got != want {
			t.Errorf("APP_URL=%s: DefaultCancelURL = %q, want %q", appURL, got, want)
		}
		if !c.RedirectAllowed(c.DefaultSuccessURL()) || !c.RedirectAllowed(c.DefaultCancelURL()) {
			t.Errorf("APP_URL=%s: default URLs not on the default allowed origins", appURL)
		}
	}
}

func TestDatabase(t *testing.T) {
	tests := []struct{ url, dialect, postgresURL, sqlitePath string }{
		{"sqlite:billing.db", store.DialectSQLite, "", "billing.db"},
		{"sqlite::memory:", store.DialectSQLite, "", ":memory:"},
		{"sqlite:/var/lib/billingd/billing.db", store.DialectSQLite, "", "/var/lib/billingd/billing.db"},
		{"postgres://u@db/billing", store.DialectPostgres, "postgres://u@db/billing", ""},
		{"postgresql://u@db/billing", store.DialectPostgres, "postgresql://u@db/billing", ""},
	}
	for _, tt := range tests {
		db := mustLoad(t, map[string]string{"DATABASE_URL": tt.url}).Database
		if db.Dialect() != tt.dialect || db.PostgresURL() != tt.postgresURL || db.SQLitePath() != tt.sqlitePath {
			t.Errorf("Database for %s = %s %q %q; want %s %q %q", tt.url,
				db.Dialect(), db.PostgresURL(), db.SQLitePath(), tt.dialect, tt.postgresURL, tt.sqlitePath)
		}
	}
}

func TestAuthOptions(t *testing.T) {
	c := mustLoad(t, map[string]string{"AUTH_JWKS_URL": "https://idp.example.com/jwks", "AUTH_ISSUER": "iss", "AUTH_AUDIENCE": "aud"})
	got := c.AuthOptions()
	want := auth.Options{HS256Secret: []byte(jwtSecret), JWKSURL: "https://idp.example.com/jwks", Issuer: "iss", Audience: "aud", OrgClaim: "org_id"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AuthOptions = %+v, want %+v", got, want)
	}
	if _, err := auth.NewVerifier(t.Context(), mustLoad(t, nil).AuthOptions()); err != nil {
		t.Fatalf("the default config does not make a verifier: %v", err)
	}
}

func TestLoadCORS(t *testing.T) {
	t.Run("DefaultsToTheRedirectOrigins", func(t *testing.T) {
		c := mustLoad(t, map[string]string{"ALLOWED_REDIRECT_ORIGINS": "https://app.example.com,https://admin.example.com"})
		assertFields(t, []field{{"CORS_ALLOWED_ORIGINS", c.CORSAllowedOrigins, []string{"https://app.example.com", "https://admin.example.com"}}})
	})
	t.Run("AnyOrigin", func(t *testing.T) {
		c := mustLoad(t, map[string]string{"CORS_ALLOWED_ORIGINS": " * "})
		assertFields(t, []field{{"CORS_ALLOWED_ORIGINS", c.CORSAllowedOrigins, []string{config.AnyOrigin}}})
	})
}
