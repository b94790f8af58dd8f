package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
)

const headerRequestID = "X-Request-Id"

// maxRequestIDLen is the longest incoming X-Request-Id echoed.
const maxRequestIDLen = 128

// saneRequestID reports whether an incoming X-Request-Id may be echoed: 1 to
// maxRequestIDLen characters of [A-Za-z0-9._-].
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

type ctxKey int

const requestInfoKey ctxKey = 0

// requestInfo is what the HTTP layer knows of a request, in its context under
// one key: the id from the start, the caller once requireAuth has verified it.
// One value for both means one copy of the *http.Request per request
// (WithContext copies it whole), not one per fact. Only requireAuth writes
// principal, before it calls the rest of the chain.
type requestInfo struct {
	id        string
	start     time.Time
	principal auth.Principal
	authed    bool // principal is set
	// held: the request's connection was taken to wait apart (heldPoll), so
	// the middlewares leave its logging and metrics to whoever answers it.
	held bool
}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey).(*requestInfo)
	return info
}

// withRequestInfo returns c's request info, putting an empty one in the
// request's context if there is none yet.
func withRequestInfo(c echo.Context) *requestInfo {
	req := c.Request()
	if info := infoFrom(req.Context()); info != nil {
		return info
	}
	info := &requestInfo{}
	c.SetRequest(req.WithContext(context.WithValue(req.Context(), requestInfoKey, info)))
	return info
}

// withRequestID gives every request an id — the caller's if it is sane — sets
// it on the response before anything is written, and puts it in the context.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(headerRequestID, id)
		info := withRequestInfo(c)
		info.id, info.start = id, time.Now()
		return next(c)
	}
}

func newRequestID() string {
	const prefix = "req_"
	var b [12]byte
	_, _ = rand.Read(b[:])
	var id [len(prefix) + 2*len(b)]byte
	copy(id[:], prefix)
	hex.Encode(id[len(prefix):], b[:])
	return string(id[:])
}

// RequestIDFrom returns the request id of ctx, for log handlers.
func RequestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// quietRoutes are polled by probes and scrapers every few seconds; their
// successes are logged at debug so they do not drown the requests that matter.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logRequests logs each request once it is done.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if held(c) {
			return nil
		}
		if err != nil {
			c.Error(err) // write the envelope now, so the status below is the real one
		}
		s.logRequest(c.Request().Context(), c.Request().Method, c.Path(), c.Response().Status, start)
		return nil
	}
}

// logRequest logs one request done: the "request" record.
func (s *Server) logRequest(ctx context.Context, method, route string, status int, start time.Time) {
	// The org id comes from the context, through LogHandler.
	level := slog.LevelInfo
	if quietRoutes[route] && status < http.StatusInternalServerError {
		level = slog.LevelDebug
	}
	// Asked first, so that a level that is off costs no record.
	if s.log.Enabled(ctx, level) {
		s.log.LogAttrs(ctx, level, "request",
			slog.String("method", method), slog.String("route", route),
			slog.Int("status", status), slog.Int64("duration_ms", time.Since(start).Milliseconds()))
	}
}

// held reports whether c's connection was taken to wait apart.
func held(c echo.Context) bool {
	info := infoFrom(c.Request().Context())
	return info != nil && info.held
}

// Verifier checks a bearer token; *auth.Verifier implements it.
type Verifier interface {
	Verify(ctx context.Context, token string) (auth.Principal, error)
}

// requireAuth verifies the bearer token and puts the Principal in the context.
// Every failure is the same 401, whatever the reason; the reason is logged.
func (s *Server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		header := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return &billing.Error{Code: billing.EUnauthorized, Message: "Authentication required", Err: errors.New("no bearer token")}
		}
		p, err := s.verifier.Verify(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			return &billing.Error{Code: billing.EUnauthorized, Message: "Authentication required", Err: err}
		}
		info := withRequestInfo(c)
		info.principal, info.authed = p, true
		return next(c)
	}
}

func principalFrom(ctx context.Context) (auth.Principal, bool) {
	if info := infoFrom(ctx); info != nil && info.authed {
		return info.principal, true
	}
	return auth.Principal{}, false
}

// callerFrom returns the authenticated user's org, or EForbidden for a token
// that names none.
func callerFrom(ctx context.Context) (billing.Caller, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		return billing.Caller{}, billing.Errorf(billing.EUnauthorized, "Authentication required")
	}
	org, err := ownOrg(p)
	if err != nil {
		return billing.Caller{}, err
	}
	return billing.Caller{OrgID: org, UserID: p.Subject, Email: p.Email}, nil
}

// ownOrg is the token's own org, under billing's rule for a token without one.
func ownOrg(p auth.Principal) (string, error) {
	if err := billing.RequireOrg(p.OrgID); err != nil {
		return "", err
	}
	return p.OrgID, nil
}
