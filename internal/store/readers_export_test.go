package store

import (
	"context"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// Single readers of what CheckoutState reads at once, for the tests that
// check CheckoutState against them and read what a checkout stored.

// OpenCheckoutSession returns the org's newest session that is open and expires
// after at, or billing.ErrNotFound.
func (s *Store) OpenCheckoutSession(ctx context.Context, orgID string, at time.Time) (billing.CheckoutSession, error) {
	var row checkoutSessionRow
	err := s.db.WithContext(ctx).
		Where("org_id = ? AND "+sessionIsOpen, orgID, string(billing.CheckoutOpen), storedTime(at)).
		Order(newestSessionFirst).
		Take(&row).Error
	if err != nil {
		return billing.CheckoutSession{}, dbError("open checkout session", err)
	}
	return toCheckoutSession(row), nil
}

// LatestCheckoutSession returns the org's newest session in any status, or
// billing.ErrNotFound.
func (s *Store) LatestCheckoutSession(ctx context.Context, orgID string) (billing.CheckoutSession, error) {
	var row checkoutSessionRow
	err := s.db.WithContext(ctx).Where("org_id = ?", orgID).Order(newestSessionFirst).Take(&row).Error
	if err != nil {
		return billing.CheckoutSession{}, dbError("latest checkout session", err)
	}
	return toCheckoutSession(row), nil
}

// IdempotentResponse returns the stored response for (orgID, key), or billing.ErrNotFound.
func (s *Store) IdempotentResponse(ctx context.Context, orgID, key string) (billing.IdempotentResponse, error) {
	row, err := take[idempotencyKeyRow](ctx, s.db, "idempotent response",
		map[string]any{"org_id": orgID, "key": key})
	if err != nil {
		return billing.IdempotentResponse{}, err
	}
	return toIdempotentResponse(row), nil
}

// EventOutcome returns the org and outcome stored on an event's receipt.
func (s *Store) EventOutcome(ctx context.Context, id string) (orgID, outcome string, err error) {
	row, err := take[stripeEventRow](ctx, s.db, "event receipt", map[string]any{"id": id})
	return row.OrgID, row.Outcome, err
}
