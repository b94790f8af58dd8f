package httpapi

import (
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/billing"
)

// measureRequests records every request of e in the HTTP metrics. It runs
// outside logRequests, which has written any error's envelope by the time it
// returns, so the status is the one the client got.
func (s *Server) measureRequests(e *echo.Echo) echo.MiddlewareFunc {
	// Read on the first request, once every route is registered.
	routes := sync.OnceValue(func() map[string]bool {
		paths := make(map[string]bool)
		for _, r := range e.Routes() {
			paths[r.Path] = true
		}
		return paths
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if held(c) {
				return err
			}
			// The route label is a registered template, never the raw path, so
			// that ids in paths and probes of unknown paths make no new series.
			// Echo reports a template for a 405 and "" or a partial match for a 404.
			route := c.Path()
			if !routes()[route] {
				route = ""
			}
			s.metrics.ObserveHTTP(route, c.Request().Method, c.Response().Status, time.Since(start))
			return err
		}
	}
}

// serveMetrics serves the Prometheus scrape, or 404 when metrics are off.
func (s *Server) serveMetrics(c echo.Context) error {
	if s.metrics == nil {
		return billing.Errorf(billing.ENotFound, "Metrics are disabled")
	}
	s.metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}
