// Package benchbaseline is what billingd's entitlement read is compared with,
// by the load command (cmd/billingd-bench) and by the in-process benchmark
// of internal/httpapi: a bare Echo handler doing the part of the work no
// billing service can skip — verify the same HS256 JWT the same way
// (algorithm allowlist, exp required, 30 s leeway) and answer an
// entitlement-shaped JSON envelope — without a database, middleware, request
// ids, ETags or logging.
package benchbaseline

import (
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

// Path is the one route the baseline serves.
const Path = "/api/billing/entitlement"

// Entitlement is the data of the baseline's answer.
type Entitlement struct {
	OrganizationID    string    `json:"organizationId"`
	Plan              string    `json:"plan"`
	Status            string    `json:"status"`
	Active            bool      `json:"active"`
	Seats             int       `json:"seats"`
	Features          []string  `json:"features"`
	CurrentPeriodEnd  time.Time `json:"currentPeriodEnd"`
	CancelAtPeriodEnd bool      `json:"cancelAtPeriodEnd"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// New returns the bare Echo server verifying tokens signed with secret.
func New(secret []byte) *echo.Echo {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	key := func(*jwt.Token) (any, error) { return secret, nil }
	periodEnd := time.Now().AddDate(0, 1, 0).UTC().Truncate(time.Second)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET(Path, func(c echo.Context) error {
		raw, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(raw, claims, key); !ok || err != nil {
			return c.JSON(http.StatusUnauthorized, map[string]any{
				"success": false, "error": errorDetail{Code: "UNAUTHORIZED", Message: "Authentication required"},
			})
		}
		org, _ := claims["org_id"].(string)
		return c.JSON(http.StatusOK, map[string]any{"success": true, "data": Entitlement{
			OrganizationID: org, Plan: "pro", Status: "active", Active: true, Seats: 1, Features: []string{},
			CurrentPeriodEnd: periodEnd, UpdatedAt: periodEnd,
		}})
	})
	return e
}
