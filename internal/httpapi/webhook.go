package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/api"
)

// handleStripeWebhook is registered by hand, not through the strict server:
// the signature covers the raw bytes, so nothing may decode them first.
func (s *Server) handleStripeWebhook(c echo.Context) error {
	payload, err := readLimited(c, maxWebhookBody)
	if err != nil {
		return err
	}
	ev, err := s.parseEvent(payload, c.Request().Header.Get("Stripe-Signature"))
	if err != nil {
		return err
	}
	res, err := s.svc.HandleEvent(c.Request().Context(), ev)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.WebhookReceiptResponse{
		Success: true, Data: api.WebhookReceipt{EventId: ev.ID, Duplicate: res.Duplicate()},
	})
}
