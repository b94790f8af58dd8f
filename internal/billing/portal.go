package billing

import (
	"context"
	"errors"
)

// PortalSession returns the URL of a Stripe Customer Portal session for the
// caller's org, where its subscription is changed or canceled; those changes
// come back through webhooks like any other. returnURL is where the portal
// links back to ("" for DefaultReturnURL). Reading the org never creates it.
// Errors: EForbidden without an org, EBadRequest for a returnURL off the
// allowed origins, ENotFound when the org has no Stripe Customer yet (it never
// started a checkout), EUpstream when Stripe fails.
func (s *Service) PortalSession(ctx context.Context, caller Caller, returnURL string) (string, error) {
	if err := RequireOrg(caller.OrgID); err != nil {
		return "", err
	}
	if returnURL == "" {
		returnURL = s.opts.DefaultReturnURL
	} else if !s.opts.RedirectAllowed(returnURL) {
		return "", Errorf(EBadRequest, "returnUrl must be an absolute URL on an allowed origin")
	}
	org, err := s.store.Organization(ctx, caller.OrgID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if err != nil || org.StripeCustomerID == "" {
		return "", Errorf(ENotFound, "No billing customer for this organization")
	}
	return s.payments.CreatePortalSession(ctx, org.StripeCustomerID, returnURL)
}
