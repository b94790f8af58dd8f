package httpapi

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/devmode"
)

// devAPIPrefix is where dev mode's own endpoints live; like /api/billing/*,
// pages on other origins may call them (CORS).
const devAPIPrefix = "/dev/api"

// DevMode is dev mode's surface: the dev pages and the stand-in for Stripe's
// hosted page. It is not part of the contract and never routed in production.
type DevMode struct {
	// Pages serves the dev pages, at paths relative to /dev/.
	Pages http.Handler
	// Pay plays Stripe for one of the org's open checkout sessions: it signs
	// and sends the webhooks a paid checkout produces and returns what
	// billingd answered to each.
	Pay func(ctx context.Context, orgID, sessionID string) ([]devmode.Delivery, error)
}

// devPayRequest is the body of POST /dev/api/pay.
type devPayRequest struct {
	SessionID string `json:"sessionId"`
}

// devPayResponse is the data of its answer.
type devPayResponse struct {
	Events []devmode.Delivery `json:"events"`
}

func (s *Server) devRoutes(e *echo.Echo) {
	pages := http.StripPrefix("/dev", s.dev.Pages)
	e.GET("/dev", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/dev/") })
	e.GET("/dev/*", echo.WrapHandler(pages))
	e.POST(devAPIPrefix+"/pay", s.devPay, s.requireAuth)
}

// devPay is the "Pay" button of the stand-in for Stripe's hosted page.
func (s *Server) devPay(c echo.Context) error {
	caller, err := callerFrom(c.Request().Context())
	if err != nil {
		return err
	}
	if err := bufferJSONBody(c); err != nil {
		return err
	}
	var req devPayRequest
	if err := c.Bind(&req); err != nil {
		return err
	}
	if req.SessionID == "" {
		return billing.Errorf(billing.EBadRequest, "Field \"sessionId\" is required")
	}
	events, err := s.dev.Pay(c.Request().Context(), caller.OrgID, req.SessionID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": devPayResponse{Events: events}})
}
