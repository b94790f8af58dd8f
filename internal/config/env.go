package config

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

// env reads variables and keeps the first parse error; later reads after an
// error return zero values, so Load can read everything and check once.
type env struct {
	getenv func(string) string
	err    *Error
}

func (e *env) str(name string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return defaults[name]
}

func (e *env) fail(err *Error) {
	if e.err == nil {
		e.err = err
	}
}

// integer parses name as an int; problem is the whole rule, so a parse failure
// and an out-of-range value read the same.
func (e *env) integer(name, rule string) int {
	n, ok := e.parseInt(name, rule)
	if !ok {
		return 0
	}
	return n
}

func (e *env) optionalInteger(name, rule string) *int {
	if e.str(name) == "" {
		return nil
	}
	n, ok := e.parseInt(name, rule)
	if !ok {
		return nil
	}
	return &n
}

func (e *env) parseInt(name, rule string) (int, bool) {
	v := e.str(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(problem(name, "%s, got %q", rule, v))
		return 0, false
	}
	return n, true
}

func (e *env) boolean(name string) bool {
	switch v := e.str(name); strings.ToLower(v) {
	case "true", "1":
		return true
	case "false", "0":
		return false
	default:
		e.fail(problem(name, "must be true, false, 1 or 0, got %q", v))
		return false
	}
}

func (e *env) duration(name string) time.Duration {
	v := e.str(name)
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(problem(name, "must be a Go duration such as 30s or 1m, got %q", v))
	}
	return d
}

// durationOrOff is duration, with "off" read as 0.
func (e *env) durationOrOff(name string) time.Duration {
	v := e.str(name)
	if strings.EqualFold(v, "off") {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(problem(name, "must be a Go duration such as 15m, or off, got %q", v))
	}
	return d
}

// database parses name with store.ParseURL, whose errors never quote the
// value: a PostgreSQL URL may hold a password.
func (e *env) database(name string) store.Location {
	loc, err := store.ParseURL(e.str(name))
	if err != nil {
		e.fail(problem(name, "%v", err))
	}
	return loc
}

func (e *env) rateLimit(name string) RateLimit {
	r, err := ParseRateLimit(e.str(name))
	if err != nil {
		e.fail(problem(name, "%v", err))
	}
	return r
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

func (e *env) logLevel(name string) slog.Level {
	v := e.str(name)
	l, ok := logLevels[strings.ToLower(v)]
	if !ok {
		e.fail(problem(name, "must be debug, info, warn or error, got %q", v))
	}
	return l
}

// origins parses a comma list of origins; when unset it is the origin of
// appURL (nil if appURL is malformed: Validate reports APP_URL then).
func (e *env) origins(name, appURL string) []string {
	v := e.str(name)
	if v == "" {
		if o, err := Origin(appURL); err == nil {
			return []string{o}
		}
		return nil
	}
	return e.originList(name, v)
}

// corsOrigins parses a comma list of origins, or AnyOrigin alone; when unset
// it is fallback.
func (e *env) corsOrigins(name string, fallback []string) []string {
	switch v := e.str(name); v {
	case "":
		return slices.Clone(fallback)
	case AnyOrigin:
		return []string{AnyOrigin}
	default:
		return e.originList(name, v)
	}
}

// originList parses the comma list v of variable name into normalised,
// distinct origins. Empty items are skipped: an origin listed twice, or a
// stray comma, still allows the same set.
func (e *env) originList(name, v string) []string {
	var out []string
	for _, item := range commaList(v) {
		if item == "" {
			continue
		}
		o, err := parseOrigin(item)
		if err != nil {
			e.fail(problem(name, "must be a comma list of origins like https://app.example.com, got %q", item))
			return nil
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// list reads name as a comma list, empty items kept (see commaList); nil when
// unset. Validate judges the items.
func (e *env) list(name string) []string {
	return commaList(e.str(name))
}

// commaList splits the comma list v into its items, each trimmed of white
// space; nil when v is "". Empty items are kept, so that each caller decides
// whether a stray comma is harmless (origins) or a mistake (endpoints).
func commaList(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		out = append(out, strings.TrimSpace(item))
	}
	return out
}

func (e *env) catalog(name string) *billing.Catalog {
	path := e.str(name)
	if path == "" {
		c, err := billing.NewCatalog(billing.DefaultPlans())
		if err != nil { // the built-in catalog is valid; this guards edits to it
			e.fail(problem(name, "is unset and the built-in catalog is invalid: %v", err))
		}
		return c
	}
	c, err := loadCatalog(path)
	if err != nil {
		e.fail(problem(name, "%q: %v", path, err))
	}
	return c
}
