package httpapi

import (
	"context"

	"github.com/billingd/billingd/api"
)

// CreatePortalSession implements api.StrictServerInterface.
func (s *Server) CreatePortalSession(ctx context.Context, req api.CreatePortalSessionRequestObject) (api.CreatePortalSessionResponseObject, error) {
	caller, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	var returnURL string
	if req.Body != nil {
		returnURL = deref(req.Body.ReturnUrl)
	}
	url, err := s.svc.PortalSession(ctx, caller, returnURL)
	if err != nil {
		return nil, err
	}
	return api.CreatePortalSession200JSONResponse{Body: api.PortalSessionResponse{
		Success: true, Data: api.PortalSession{Url: url},
	}}, nil
}
