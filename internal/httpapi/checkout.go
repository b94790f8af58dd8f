package httpapi

import (
	"context"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
)

// CreateCheckout implements api.StrictServerInterface.
func (s *Server) CreateCheckout(ctx context.Context, req api.CreateCheckoutRequestObject) (api.CreateCheckoutResponseObject, error) {
	caller, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	// The contract has checked the Idempotency-Key's length.
	res, err := s.svc.StartCheckout(ctx, caller, toCheckoutRequest(req.Body), deref(req.Params.IdempotencyKey))
	if err != nil {
		return nil, err
	}
	return api.CreateCheckout200JSONResponse{Body: api.CheckoutCreatedResponse{
		Success: true,
		Data:    api.CheckoutCreated{SessionId: res.SessionID, Url: res.URL, ExpiresAt: res.ExpiresAt.UTC()},
	}}, nil
}

func toCheckoutRequest(b *api.CheckoutRequest) billing.CheckoutRequest {
	if b == nil {
		return billing.CheckoutRequest{}
	}
	r := billing.CheckoutRequest{
		Plan: deref(b.Plan), PriceID: deref(b.PriceId), Quantity: b.Quantity,
		SuccessURL: deref(b.SuccessUrl), CancelURL: deref(b.CancelUrl),
	}
	if b.Interval != nil {
		r.Interval = billing.Interval(*b.Interval)
	}
	if b.Metadata != nil {
		r.Metadata = *b.Metadata
	}
	return r
}

// GetCheckout implements api.StrictServerInterface.
func (s *Server) GetCheckout(ctx context.Context, req api.GetCheckoutRequestObject) (api.GetCheckoutResponseObject, error) {
	caller, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.svc.CheckoutSession(ctx, caller.OrgID, req.SessionId)
	if err != nil {
		return nil, err
	}
	data := api.CheckoutSession{
		SessionId: v.ID, Status: api.CheckoutStatus(v.Status), Plan: v.Plan, Interval: api.Interval(v.Interval),
		ExpiresAt: v.ExpiresAt.UTC(), EntitlementReady: v.EntitlementReady,
	}
	if v.Status == billing.CheckoutOpen && v.URL != "" {
		data.Url = &v.URL
	}
	return api.GetCheckout200JSONResponse{Body: api.CheckoutSessionResponse{Success: true, Data: data}}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
