package httpapi

import (
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/billingd/billingd/internal/config"
)

// CORS headers of SPEC §4. Echo's middleware joins each list with ","; giving
// it the list as one value keeps the SPEC's ", " spelling on the wire.
var (
	corsAllowMethods  = []string{strings.Join([]string{echo.GET, echo.POST}, ", ")}
	corsAllowHeaders  = []string{strings.Join([]string{echo.HeaderAuthorization, echo.HeaderContentType, "Idempotency-Key", "If-None-Match", headerRequestID}, ", ")}
	corsExposeHeaders = []string{strings.Join([]string{"ETag", headerRequestID, echo.HeaderRetryAfter}, ", ")}
)

// corsMaxAge is how long, in seconds, a browser may cache a preflight's answer.
const corsMaxAge = 600

// corsPaths are the path prefixes browsers may call across origins: the API,
// and in dev mode its pay stand-in. The webhook and the operations endpoints
// are for Stripe and for infrastructure, never for pages.
var corsPaths = []string{"/api/billing/", devAPIPrefix + "/"}

// withCORS lets the allowed browser origins call the API with bearer tokens
// (no cookies, so no credentials mode). It runs before auth and rate limits:
// a preflight carries no token and must be answered 204 all the same, and an
// error, 304 or 429 must reach the page, not be hidden by the browser.
func withCORS(allowedOrigins []string) echo.MiddlewareFunc {
	cfg := middleware.CORSConfig{
		Skipper:       func(c echo.Context) bool { return !isCORSPath(c.Request().URL.Path) },
		AllowMethods:  corsAllowMethods,
		AllowHeaders:  corsAllowHeaders,
		ExposeHeaders: corsExposeHeaders,
		MaxAge:        corsMaxAge,
	}
	if slices.Equal(allowedOrigins, []string{config.AnyOrigin}) {
		cfg.AllowOrigins = []string{config.AnyOrigin}
	} else {
		// Exact matches only: Echo would also read "*" and "?" inside an
		// allowed origin as wildcards.
		allowed := slices.Clone(allowedOrigins)
		cfg.AllowOriginFunc = func(origin string) (bool, error) { return slices.Contains(allowed, origin), nil }
	}
	return middleware.CORSWithConfig(cfg)
}

func isCORSPath(path string) bool {
	for _, prefix := range corsPaths {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}
