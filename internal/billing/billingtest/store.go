package billingtest

import (
	"context"

	"github.com/billingd/billingd/internal/billing"
)

// Store is a billing.Store that passes every call to the embedded one, except
// that a set Fail field is asked first: when it returns an error, the call
// fails with it and writes nothing. It is a test's way to make one write fail,
// inside transactions too (InTx hands fn its transaction wrapped alike, and
// the error rolls the transaction back).
type Store struct {
	billing.Store
	FailSaveCheckoutSession func(cs billing.CheckoutSession) error
	FailSetCustomerID       func(orgID, customerID string) error
}

var _ billing.Store = (*Store)(nil)

// InTx implements billing.Store.
func (s *Store) InTx(ctx context.Context, fn func(tx billing.Store) error) error {
	return s.Store.InTx(ctx, func(tx billing.Store) error {
		wrapped := *s
		wrapped.Store = tx
		return fn(&wrapped)
	})
}

// SaveCheckoutSession implements billing.Store.
func (s *Store) SaveCheckoutSession(ctx context.Context, cs billing.CheckoutSession) error {
	if s.FailSaveCheckoutSession != nil {
		if err := s.FailSaveCheckoutSession(cs); err != nil {
			return err
		}
	}
	return s.Store.SaveCheckoutSession(ctx, cs)
}

// SetCustomerID implements billing.Store.
func (s *Store) SetCustomerID(ctx context.Context, orgID, customerID string) (billing.Organization, error) {
	if s.FailSetCustomerID != nil {
		if err := s.FailSetCustomerID(orgID, customerID); err != nil {
			return billing.Organization{}, err
		}
	}
	return s.Store.SetCustomerID(ctx, orgID, customerID)
}
