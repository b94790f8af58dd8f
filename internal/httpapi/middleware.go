package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
)

const headerRequestID = "X-Request-Id"

// saneRequestID is what an incoming X-Request-Id must look like to be echoed.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// withRequestID gives every request an id — the caller's if it is sane — sets
// it on the response before anything is written, and puts it in the context.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if !saneRequestID.MatchString(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(headerRequestID, id)
		ctx := context.WithValue(c.Request().Context(), requestIDKey, id)
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}

func requestID(c echo.Context) string {
	return RequestIDFrom(c.Request().Context())
}

// RequestIDFrom returns the request id of ctx, for log handlers.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// quietRoutes are polled by probes and scrapers every few seconds; their
// successes are logged at debug so they do not drown the requests that matter.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logRequests logs each request once it is done.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // write the envelope now, so the status below is the real one
		}
		// The org id comes from the context, through LogHandler.
		req := c.Request()
		level := slog.LevelInfo
		if quietRoutes[c.Path()] && c.Response().Status < http.StatusInternalServerError {
			level = slog.LevelDebug
		}
		s.log.Log(req.Context(), level, "request",
			"method", req.Method, "route", c.Path(),
			"status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds())
		return nil
	}
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
		ctx := context.WithValue(c.Request().Context(), principalKey, p)
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func principalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey).(auth.Principal)
	return p, ok
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
