package httpapi

import (
	"context"
	"strings"
	"time"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
)

// MaxWait is the longest long-poll a client may ask for: the maximum of the
// contract's wait parameter (TestMaxWaitIsTheContracts holds them equal). The
// server's write timeout must outlast it.
const MaxWait = 25 * time.Second

// GetEntitlement implements api.StrictServerInterface. The contract has
// checked wait's range.
func (s *Server) GetEntitlement(ctx context.Context, req api.GetEntitlementRequestObject) (api.GetEntitlementResponseObject, error) {
	orgID, err := readableOrg(ctx, deref(req.Params.OrgId))
	if err != nil {
		return nil, err
	}
	wait := 0
	if req.Params.Wait != nil {
		wait = *req.Params.Wait
	}
	q := billing.EntitlementQuery{OrgID: orgID, SessionID: deref(req.Params.SessionId)}
	known := etagValues(deref(req.Params.IfNoneMatch))

	if wait > 0 {
		since := ""
		if len(known) > 0 {
			since = known[0]
		}
		return heldEntitlement{s: s, ctx: ctx, q: q, since: since, wait: time.Duration(wait) * time.Second}, nil
	}
	v, err := s.svc.EntitlementFor(ctx, q)
	if err != nil {
		return nil, err
	}
	etag := v.ETag() // hashed once: the commonest request billingd gets
	if matchesETag(known, etag) {
		return api.GetEntitlement304Response{Headers: api.GetEntitlement304ResponseHeaders{ETag: `"` + etag + `"`}}, nil
	}
	return entitlementAnswer(v, etag), nil
}

// entitlementAnswer is GetEntitlement's 200 with v, whose ETag is etag.
func entitlementAnswer(v billing.EntitlementView, etag string) entitlementOK {
	return entitlementOK{
		Body:    api.EntitlementResponse{Success: true, Data: api.EntitlementOf(v)},
		Headers: api.GetEntitlement200ResponseHeaders{ETag: `"` + etag + `"`},
	}
}

// GetEntitlements implements api.StrictServerInterface: many orgs at once,
// for service tokens only. The contract has checked the number of org ids.
func (s *Server) GetEntitlements(ctx context.Context, req api.GetEntitlementsRequestObject) (api.GetEntitlementsResponseObject, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		return nil, billing.Errorf(billing.EUnauthorized, "Authentication required")
	}
	if !p.IsService() {
		return nil, billing.Errorf(billing.EForbidden, "Reading several organizations needs the %s scope", auth.ScopeBillingRead)
	}
	views, err := s.svc.Entitlements(ctx, req.Params.OrgId)
	if err != nil {
		return nil, err
	}
	items := make([]api.Entitlement, len(views))
	for i, v := range views {
		items[i] = api.EntitlementOf(v)
	}
	return api.GetEntitlements200JSONResponse{Body: api.EntitlementListResponse{
		Success: true, Data: api.EntitlementList{Items: items},
	}}, nil
}

// readableOrg decides whose data the caller may read: its own org, or any org
// with a service token.
func readableOrg(ctx context.Context, requested string) (string, error) {
	p, ok := principalFrom(ctx)
	switch {
	case !ok:
		return "", billing.Errorf(billing.EUnauthorized, "Authentication required")
	case requested == "":
		return ownOrg(p)
	case requested == p.OrgID:
		return p.OrgID, nil
	case p.IsService():
		return requested, nil
	default:
		return "", billing.Errorf(billing.EForbidden, "Reading another organization needs the %s scope", auth.ScopeBillingRead)
	}
}

// etagValues parses If-None-Match into bare tags.
func etagValues(header string) []string {
	if header == "" {
		return nil
	}
	var out []string
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		part = strings.TrimPrefix(part, "W/")
		part = strings.Trim(part, `"`)
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

func matchesETag(known []string, etag string) bool {
	for _, k := range known {
		if k == etag || k == "*" {
			return true
		}
	}
	return false
}
