package httpapi

import (
	"context"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
)

// ListPayments implements api.StrictServerInterface. The contract has checked
// limit's range and filled in its default.
func (s *Server) ListPayments(ctx context.Context, req api.ListPaymentsRequestObject) (api.ListPaymentsResponseObject, error) {
	orgID, err := readableOrg(ctx, deref(req.Params.OrgId))
	if err != nil {
		return nil, err
	}
	q := billing.PaymentsQuery{OrgID: orgID, StartingAfter: deref(req.Params.StartingAfter)}
	if req.Params.Limit != nil {
		q.Limit = *req.Params.Limit
	}
	page, err := s.svc.Payments(ctx, q)
	if err != nil {
		return nil, err
	}
	items := make([]api.Payment, len(page.Items))
	for i, p := range page.Items {
		items[i] = api.PaymentOf(p)
	}
	return api.ListPayments200JSONResponse{Body: api.PaymentListResponse{
		Success: true, Data: api.PaymentList{Items: items, HasMore: page.HasMore},
	}}, nil
}
