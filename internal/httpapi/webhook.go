package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
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
	s.metrics.ObserveWebhook(eventTypeLabel(ev), string(eventOutcome(res, err)))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.WebhookReceiptResponse{
		Success: true, Data: api.WebhookReceipt{EventId: ev.ID, Duplicate: res.Duplicate(), Outcome: api.WebhookOutcome(res.Outcome)},
	})
}

// eventTypeLabel bounds the type label of the webhook metrics: billingd's own
// event types as they are, any other "other". billing.Event carries an object
// exactly for the types billingd acts on.
func eventTypeLabel(ev billing.Event) string {
	if ev.Checkout == nil && ev.Subscription == nil && ev.Invoice == nil {
		return "other"
	}
	return ev.Type
}

// eventOutcome is the outcome to count: any error means the event failed.
func eventOutcome(res billing.EventResult, err error) billing.EventOutcome {
	if err != nil {
		return billing.OutcomeFailed
	}
	return res.Outcome
}
