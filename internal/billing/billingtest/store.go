package billingtest

import (
	"context"

	"github.com/billingd/billingd/internal/billing"
)

// Store is a billing.Store that passes every call to the embedded one, except
// those whose function field is set: a test's way to make one write fail.
// The fields apply outside transactions only (InTx hands fn the embedded
// store's own transaction).
type Store struct {
	billing.Store
	SaveCheckoutSessionFunc func(ctx context.Context, cs billing.CheckoutSession) error
	SetCustomerIDFunc       func(ctx context.Context, orgID, customerID string) (billing.Organization, error)
}

var _ billing.Store = (*Store)(nil)

// SaveCheckoutSession implements billing.Store.
func (s *Store) SaveCheckoutSession(ctx context.Context, cs billing.CheckoutSession) error {
	if s.SaveCheckoutSessionFunc != nil {
		return s.SaveCheckoutSessionFunc(ctx, cs)
	}
	return s.Store.SaveCheckoutSession(ctx, cs)
}

// SetCustomerID implements billing.Store.
func (s *Store) SetCustomerID(ctx context.Context, orgID, customerID string) (billing.Organization, error) {
	if s.SetCustomerIDFunc != nil {
		return s.SetCustomerIDFunc(ctx, orgID, customerID)
	}
	return s.Store.SetCustomerID(ctx, orgID, customerID)
}
