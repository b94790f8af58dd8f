package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/metrics"
)

// EventParser verifies a webhook's Stripe-Signature over the raw payload and
// returns the event; a bad signature is a billing error with EBadSignature.
type EventParser func(payload []byte, signatureHeader string) (billing.Event, error)

// Deps are what the HTTP layer calls.
type Deps struct {
	Service    *billing.Service
	Verifier   Verifier
	ParseEvent EventParser
	Logger     *slog.Logger
	Limits     Limits           // zero: no rate limits
	Metrics    *metrics.Metrics // nil: no metrics, and /metrics is 404
	// CORSAllowedOrigins are the browser origins that may call /api/billing/*,
	// or just config.AnyOrigin; none when empty.
	CORSAllowedOrigins []string
	// Dev is dev mode's extra surface under /dev/; nil in production, where
	// none of it is routed.
	Dev *DevMode
	// Database is what /readyz pings; nil: readiness is the Lifecycle's alone.
	Database Pinger
	// Lifecycle is the process's shutdown state; nil: a fresh one, never
	// shut down.
	Lifecycle *Lifecycle
}

// Server implements api.StrictServerInterface over the billing Service.
type Server struct {
	svc        *billing.Service
	verifier   Verifier
	parseEvent EventParser
	log        *slog.Logger
	limit      limiters
	metrics    *metrics.Metrics
	contract   *contract
	dev        *DevMode
	db         Pinger
	life       *Lifecycle
	heldConns  connWatch
}

var _ api.StrictServerInterface = (*Server)(nil)

// New returns the Echo instance serving every route of openapi.yaml (and,
// with d.Dev, dev mode's). It fails only if the embedded contract does.
func New(d Deps) (*echo.Echo, error) {
	ct, err := newContract()
	if err != nil {
		return nil, err
	}
	s := &Server{
		svc: d.Service, verifier: d.Verifier, parseEvent: d.ParseEvent, log: d.Logger,
		metrics: d.Metrics, contract: ct, dev: d.Dev, db: d.Database, life: d.Lifecycle,
	}
	if s.life == nil {
		s.life = NewLifecycle()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.limit = s.newLimiters(d.Limits)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Binder = strictJSONBinder{}
	e.Use(chainedOnce(withRequestID, s.measureRequests(e), s.logRequests, middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.ErrorContext(c.Request().Context(), "panic", "err", err, "stack", string(stack))
			return err
		},
	}), withCORS(d.CORSAllowedOrigins), refuseUnstorable))
	s.routes(e)
	return e, nil
}

// chainedOnce is the middlewares mw, first outermost, as one middleware that
// Echo runs around every request's handler, route or not. Echo wraps its
// middlewares around the handler anew for each request, allocating each
// one's closure; these are wrapped once, around a handler that runs what Echo
// would have passed them: c.Handler(), set by Echo's router before any
// middleware runs.
func chainedOnce(mw ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	h := wrapped(func(c echo.Context) error { return c.Handler()(c) }, mw...)
	return func(echo.HandlerFunc) echo.HandlerFunc { return h }
}

// wrapped is h inside the middlewares mw, first outermost. A route's
// middlewares are given to Echo this way, wrapped once, rather than as
// route middlewares, which Echo wraps anew for each request.
func wrapped(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// routes is the one place that lists every route.
func (s *Server) routes(e *echo.Echo) {
	strict := api.NewStrictHandler(s, nil)
	wrapper := api.ServerInterfaceWrapper{Handler: strict}

	e.GET("/healthz", wrapper.Healthz)
	e.GET("/readyz", wrapper.Readyz)
	e.GET("/openapi.yaml", s.serveSpec)
	e.GET("/metrics", s.serveMetrics)
	e.POST("/webhooks/stripe", s.handleStripeWebhook)

	// Auth, then the contract, then the route's rate limit: a request that
	// breaks the contract costs no token, and a refused one reaches no handler.
	// They are per route, not on a group: Echo would answer a group's wrong
	// method 404 instead of 405.
	billingAPI := func(method, path string, h echo.HandlerFunc, limit echo.MiddlewareFunc) {
		path = "/api/billing" + path
		e.Add(method, path, wrapped(h, s.requireAuth, s.contract.validateRoute(method, path), limit))
	}
	billingAPI(http.MethodPost, "/checkout", wrapper.CreateCheckout, s.limit.checkout)
	billingAPI(http.MethodGet, "/checkout/:sessionId", wrapper.GetCheckout, s.limit.read)
	billingAPI(http.MethodGet, "/entitlement", wrapper.GetEntitlement, s.limit.read)
	billingAPI(http.MethodGet, "/entitlements", wrapper.GetEntitlements, s.limit.read)
	billingAPI(http.MethodGet, "/payments", wrapper.ListPayments, s.limit.read)
	billingAPI(http.MethodPost, "/portal", wrapper.CreatePortalSession, s.limit.portal)

	if s.dev != nil {
		s.devRoutes(e)
	}
}

// Healthz implements api.StrictServerInterface: the process is up.
func (s *Server) Healthz(context.Context, api.HealthzRequestObject) (api.HealthzResponseObject, error) {
	return api.Healthz200JSONResponse{HealthyJSONResponse: healthy()}, nil
}

// Readyz implements api.StrictServerInterface: the process is not shutting
// down and the database answers.
func (s *Server) Readyz(ctx context.Context, _ api.ReadyzRequestObject) (api.ReadyzResponseObject, error) {
	if err := s.life.ready(ctx, s.db); err != nil {
		return nil, err
	}
	return api.Readyz200JSONResponse{HealthyJSONResponse: healthy()}, nil
}

func healthy() api.HealthyJSONResponse {
	return api.HealthyJSONResponse{Body: api.HealthResponse{Success: true, Data: api.Health{Status: "ok"}}}
}

// serveSpec serves the contract.
func (s *Server) serveSpec(c echo.Context) error {
	spec, err := api.SpecYAML()
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/yaml", spec)
}
