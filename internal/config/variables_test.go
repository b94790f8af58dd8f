package config_test

import (
	"slices"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/config"
)

const rateLimitRule = "must be N/DURATION such as 10/1m (N ≥ 1, a positive Go duration), or 0 or off to disable"

// TestVariables is what keeps Variables honest: it records every name Load
// passes to getenv, with a minimal environment and with optional ones set
// (a read that depended on another value would show up as a difference).
func TestVariables(t *testing.T) {
	vars := config.Variables()
	if !slices.IsSorted(vars) {
		t.Errorf("Variables() is not sorted: %v", vars)
	}
	if len(slices.Compact(slices.Clone(vars))) != len(vars) {
		t.Errorf("Variables() has duplicates: %v", vars)
	}
	for name, env := range map[string]func(string) string{
		"Minimal": getenv(nil),
		"AllSet": getenv(map[string]string{
			"AUTH_JWKS_URL": "https://idp.example.com/jwks", "CHECKOUT_TRIAL_DAYS": "3", "ALLOWED_REDIRECT_ORIGINS": "https://app.example.com",
			"EVENTS_WEBHOOK_URL": hookURL, "EVENTS_WEBHOOK_SECRET": eventsSecret,
		}),
	} {
		t.Run(name, func(t *testing.T) {
			read := map[string]bool{}
			if _, err := config.Load(func(k string) string { read[k] = true; return env(k) }); err != nil {
				t.Fatalf("Load: %v", err)
			}
			for k := range read {
				if !slices.Contains(vars, k) {
					t.Errorf("Load reads %s, which Variables() does not list", k)
				}
			}
			for _, k := range vars {
				if !read[k] {
					t.Errorf("Variables() lists %s, which Load does not read", k)
				}
			}
		})
	}
	vars[0] = "CHANGED"
	if config.Variables()[0] == "CHANGED" {
		t.Error("Variables() returns its own slice; a caller can change it")
	}
}

func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]config.RateLimit{
		"10/1m":  {Count: 10, Per: time.Minute},
		"5/1s":   {Count: 5, Per: time.Second},
		"1/24h":  {Count: 1, Per: 24 * time.Hour},
		"0":      {},
		"off":    {},
		"OFF":    {},
		"3/1.5s": {Count: 3, Per: 1500 * time.Millisecond},
	} {
		got, err := config.ParseRateLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.Enabled() != (want != config.RateLimit{}) {
			t.Errorf("ParseRateLimit(%q).Enabled() = %v", in, got.Enabled())
		}
		if back, err := config.ParseRateLimit(got.String()); err != nil || back != got {
			t.Errorf("String() %q of %q does not parse back: %+v, %v", got.String(), in, back, err)
		}
	}
	for _, in := range []string{"", "10", "/1m", "10/", "ten/1m", "0/1m", "-5/1m", "10/0", "10/-1m", "10/1m/2", "on"} {
		if got, err := config.ParseRateLimit(in); err == nil {
			t.Errorf("ParseRateLimit(%q) = %+v, want an error", in, got)
		}
	}
}

func TestValidateRateLimits(t *testing.T) {
	c := mustLoad(t, nil)
	c.PollRateLimit = config.RateLimit{Count: 10}
	if err := c.Validate(); err == nil || err.Error() != `config: POLL_RATE_LIMIT `+rateLimitRule+`, got "10/0s"` {
		t.Fatalf("Validate with a limit without period = %v", err)
	}
}
