package stripe

import (
	"context"

	stripego "github.com/stripe/stripe-go/v82"
)

// CreatePortalSession creates a Customer Portal session for the Customer and
// returns the URL of its hosted page. The portal's configuration is the
// account's default one, set in the Stripe Dashboard.
func (c *Client) CreatePortalSession(ctx context.Context, customerID, returnURL string) (string, error) {
	params := &stripego.BillingPortalSessionCreateParams{
		Customer:  stripego.String(customerID),
		ReturnURL: stripego.String(returnURL),
	}
	var s *stripego.BillingPortalSession
	err := c.call(ctx, "create_portal_session", func() (resp *stripego.APIResponse, err error) {
		s, err = c.sc.V1BillingPortalSessions.Create(ctx, params)
		return s.LastResponse, err
	})
	if err != nil {
		return "", err
	}
	return s.URL, nil
}
