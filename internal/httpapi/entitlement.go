package httpapi

import (
	"context"
	"strings"
	"time"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
)

// MaxWait is the longest long-poll a client may ask for; the server's write
// timeout must outlast it.
const MaxWait = 25 * time.Second

// maxWait is MaxWait in the unit of the wait parameter, seconds.
const maxWait = int(MaxWait / time.Second)

// GetEntitlement implements api.StrictServerInterface.
func (s *Server) GetEntitlement(ctx context.Context, req api.GetEntitlementRequestObject) (api.GetEntitlementResponseObject, error) {
	orgID, err := entitlementOrg(ctx, deref(req.Params.OrgId))
	if err != nil {
		return nil, err
	}
	wait := 0
	if req.Params.Wait != nil {
		wait = *req.Params.Wait
		if wait < 0 || wait > maxWait {
			return nil, billing.Errorf(billing.EBadRequest, "wait must be between 0 and %d seconds", maxWait)
		}
	}
	q := billing.EntitlementQuery{OrgID: orgID, SessionID: deref(req.Params.SessionId)}
	known := etagValues(deref(req.Params.IfNoneMatch))

	var v billing.EntitlementView
	if wait > 0 {
		since := ""
		if len(known) > 0 {
			since = known[0]
		}
		done := s.metrics.LongPollStarted()
		defer done()
		v, err = s.svc.WaitEntitlement(ctx, q, since, time.Duration(wait)*time.Second)
	} else {
		v, err = s.svc.EntitlementFor(ctx, q)
	}
	if err != nil {
		return nil, err
	}
	version := v.Version()
	tag := `"` + version + `"`
	if wait == 0 && matchesETag(known, version) {
		return api.GetEntitlement304Response{Headers: api.GetEntitlement304ResponseHeaders{ETag: tag}}, nil
	}
	return api.GetEntitlement200JSONResponse{
		Body:    api.EntitlementResponse{Success: true, Data: toAPIEntitlement(v)},
		Headers: api.GetEntitlement200ResponseHeaders{ETag: tag},
	}, nil
}

// entitlementOrg decides whose entitlement the caller may read: its own org, or
// any org with the billing:read scope of a service token.
func entitlementOrg(ctx context.Context, requested string) (string, error) {
	p, ok := principalFrom(ctx)
	switch {
	case !ok:
		return "", billing.Errorf(billing.EUnauthorized, "Authentication required")
	case requested == "" && p.OrgID == "":
		return "", billing.Errorf(billing.EForbidden, "Token has no organization claim; service tokens must pass org_id")
	case requested == "" || requested == p.OrgID:
		return p.OrgID, nil
	case p.HasScope(auth.ScopeBillingRead):
		return requested, nil
	default:
		return "", billing.Errorf(billing.EForbidden, "Reading another organization needs the %s scope", auth.ScopeBillingRead)
	}
}

// etagValues parses If-None-Match into bare version strings.
func etagValues(header string) []string {
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

func matchesETag(known []string, version string) bool {
	for _, k := range known {
		if k == version || k == "*" {
			return true
		}
	}
	return false
}

func toAPIEntitlement(v billing.EntitlementView) api.Entitlement {
	out := api.Entitlement{
		OrganizationId: v.OrgID, Plan: v.Plan, Status: api.SubscriptionStatus(v.Status), Active: v.Active,
		Seats: v.Seats, Features: v.Features, TrialEndsAt: utc(v.TrialEnd), CurrentPeriodEnd: utc(v.CurrentPeriodEnd),
		CancelAtPeriodEnd: v.CancelAtPeriodEnd, UpdatedAt: utc(v.UpdatedAt),
	}
	if out.Features == nil {
		out.Features = []string{}
	}
	if c := v.Checkout; c != nil {
		out.Checkout = &api.CheckoutReadiness{SessionId: c.SessionID, Status: api.CheckoutStatus(c.Status), Ready: c.Ready}
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
