package httpapi

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
)

// Limits are the request rate limits, counted in this process only: with
// several replicas a client may get up to replicas × the limit. A zero
// config.RateLimit turns its limit off.
type Limits struct {
	// Checkout caps, per org, the creations of Stripe sessions: checkouts and,
	// counted apart, Customer Portal sessions.
	Checkout config.RateLimit
	// Poll caps, per user token (issuer and subject, else remote IP), reads.
	Poll config.RateLimit
	// Service caps, per service token (issuer and subject), reads. Services
	// check entitlements on their hot paths: it is usually off.
	Service config.RateLimit
}

// keyedLimiter is a token bucket per key (rate Count/Per, burst Count).
type keyedLimiter struct {
	limit config.RateLimit
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

// newKeyedLimiter returns nil for a disabled limit; a nil limiter allows everything.
func newKeyedLimiter(limit config.RateLimit, now func() time.Time) *keyedLimiter {
	if !limit.Enabled() {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &keyedLimiter{limit: limit, now: now, buckets: map[string]*bucket{}, lastSweep: now()}
}

// reserve takes one request from key's bucket, or returns how long until it
// could. A refused request takes nothing: retrying early must not push the
// next allowed request further away.
func (l *keyedLimiter) reserve(key string) (retryAfter time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{limiter: rate.NewLimiter(rate.Limit(float64(l.limit.Count)/l.limit.Per.Seconds()), l.limit.Count)}
		l.buckets[key] = b
	}
	b.lastUsed = now
	r := b.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep drops, at most once per Per, the buckets idle for longer than Per, so
// memory follows the keys seen recently. Dropping loses nothing: a bucket idle
// for Per has refilled completely, just like a new one.
func (l *keyedLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.limit.Per {
		return
	}
	l.lastSweep = now
	for key, b := range l.buckets {
		if now.Sub(b.lastUsed) > l.limit.Per {
			delete(l.buckets, key)
		}
	}
}

// size is the number of keys tracked.
func (l *keyedLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateLimited refuses, with 429 RATE_LIMITED and Retry-After, a request whose
// key (from keyOf; "" is not limited) is over its limit. It runs after
// requireAuth, so keys come from verified tokens. message names what is limited.
func (s *Server) rateLimited(l *keyedLimiter, message string, keyOf func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if l == nil {
			return next
		}
		return func(c echo.Context) error {
			key := keyOf(c)
			if key == "" {
				return next(c)
			}
			wait, ok := l.reserve(key)
			if ok {
				return next(c)
			}
			secs := retryAfterSeconds(wait)
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			s.log.InfoContext(c.Request().Context(), "rate limited", "route", c.Path(), "retry_after_s", secs)
			return billing.Errorf(billing.ERateLimited, "%s; retry in %d seconds", message, secs)
		}
	}
}

// retryAfterSeconds rounds up, so a client that waits as told is let through.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// orgKey limits per org; a token without an org is refused by the handler.
func orgKey(c echo.Context) string {
	p, _ := principalFrom(c.Request().Context())
	return p.OrgID
}

// clientKey limits per token subject (qualified by its issuer, since two
// issuers may reuse a subject), else per remote address. Users and services
// are counted by separate limiters, so the key need not tell them apart. The address is
// the TCP peer's, not X-Forwarded-For, which any client can set.
func clientKey(c echo.Context) string {
	if p, _ := principalFrom(c.Request().Context()); p.Subject != "" {
		return "sub:" + p.Issuer + "|" + p.Subject
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		host = c.Request().RemoteAddr
	}
	return "ip:" + host
}

// limiters are the rate-limiting middlewares of the routes that have one.
type limiters struct {
	checkout, portal, read echo.MiddlewareFunc
}

// newLimiters builds the middlewares of l. Checkout and portal sessions of an
// org have separate buckets of the same size, so opening the portal never
// costs a checkout. Reads are counted against the user's limit or, for a
// service token, against the service's: never both.
func (s *Server) newLimiters(l Limits) limiters {
	users := s.rateLimited(newKeyedLimiter(l.Poll, nil), "Too many read requests", clientKey)
	services := s.rateLimited(newKeyedLimiter(l.Service, nil), "Too many read requests for this service", clientKey)
	return limiters{
		checkout: s.rateLimited(newKeyedLimiter(l.Checkout, nil), "Too many checkouts for this organization", orgKey),
		portal:   s.rateLimited(newKeyedLimiter(l.Checkout, nil), "Too many portal sessions for this organization", orgKey),
		read:     byCaller(users, services),
	}
}

// byCaller applies forUsers to user tokens and forServices to service tokens.
func byCaller(forUsers, forServices echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		users, services := forUsers(next), forServices(next)
		return func(c echo.Context) error {
			if p, _ := principalFrom(c.Request().Context()); p.IsService() {
				return services(c)
			}
			return users(c)
		}
	}
}
