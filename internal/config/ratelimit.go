package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RateLimit allows Count requests per Per for each key (an org, a client).
// The zero value is disabled.
type RateLimit struct {
	Count int
	Per   time.Duration
}

// Enabled reports whether the limit refuses anything at all.
func (r RateLimit) Enabled() bool { return r.Count > 0 && r.Per > 0 }

// String renders the limit in the form ParseRateLimit reads back.
func (r RateLimit) String() string {
	if !r.Enabled() {
		return "off"
	}
	return strconv.Itoa(r.Count) + "/" + r.Per.String()
}

const rateLimitProblem = "must be N/DURATION such as 10/1m (N ≥ 1, a positive Go duration), or 0 or off to disable"

// ParseRateLimit reads "N/DURATION" (e.g. "10/1m", "5/1s"); "0" and "off"
// disable the limit. "0/1m" is refused rather than read as "off": it could as
// well mean "refuse everything".
func ParseRateLimit(s string) (RateLimit, error) {
	if s == "0" || strings.EqualFold(s, "off") {
		return RateLimit{}, nil
	}
	count, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if !ok || err != nil || n < 1 {
		return RateLimit{}, fmt.Errorf("%s, got %q", rateLimitProblem, s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return RateLimit{}, fmt.Errorf("%s, got %q", rateLimitProblem, s)
	}
	return RateLimit{Count: n, Per: d}, nil
}

// valid reports whether r is either disabled or a usable limit; a hand-built
// Config could hold a negative or half-set one.
func (r RateLimit) valid() bool {
	return r == RateLimit{} || r.Enabled()
}

// raw shows a hand-built, invalid limit as it was set.
func (r RateLimit) raw() string {
	return strconv.Itoa(r.Count) + "/" + r.Per.String()
}
