package store

import (
	"context"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

type checkoutSessionRow struct {
	ID             string `gorm:"primaryKey"`
	OrgID          string
	Plan           string
	Interval       string
	PriceID        string
	Quantity       int
	Status         string
	URL            string
	ExpiresAt      time.Time
	SubscriptionID string
	CustomerID     string
	CreatedBy      string
	RequestHash    string
	CreatedAt      time.Time
	UpdatedAt      time.Time `gorm:"autoUpdateTime:false"`
}

func (checkoutSessionRow) TableName() string { return "checkout_sessions" }

func toCheckoutSession(r checkoutSessionRow) billing.CheckoutSession {
	return billing.CheckoutSession{
		ID:             r.ID,
		OrgID:          r.OrgID,
		Plan:           r.Plan,
		Interval:       billing.Interval(r.Interval),
		PriceID:        r.PriceID,
		Quantity:       r.Quantity,
		Status:         billing.CheckoutStatus(r.Status),
		URL:            r.URL,
		ExpiresAt:      r.ExpiresAt.UTC(),
		SubscriptionID: r.SubscriptionID,
		CustomerID:     r.CustomerID,
		CreatedBy:      r.CreatedBy,
		RequestHash:    r.RequestHash,
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
	}
}

func fromCheckoutSession(cs billing.CheckoutSession) checkoutSessionRow {
	return checkoutSessionRow{
		ID:             cs.ID,
		OrgID:          cs.OrgID,
		Plan:           cs.Plan,
		Interval:       string(cs.Interval),
		PriceID:        cs.PriceID,
		Quantity:       cs.Quantity,
		Status:         string(cs.Status),
		URL:            cs.URL,
		ExpiresAt:      storedTime(cs.ExpiresAt),
		SubscriptionID: cs.SubscriptionID,
		CustomerID:     cs.CustomerID,
		CreatedBy:      cs.CreatedBy,
		RequestHash:    cs.RequestHash,
		CreatedAt:      storedTimeOr(cs.CreatedAt),
		UpdatedAt:      storedTimeOr(cs.UpdatedAt),
	}
}

// CheckoutSession returns the session with id, or billing.ErrNotFound.
func (s *Store) CheckoutSession(ctx context.Context, id string) (billing.CheckoutSession, error) {
	row, err := take[checkoutSessionRow](ctx, s.db, "checkout session", map[string]any{"id": id})
	if err != nil {
		return billing.CheckoutSession{}, err
	}
	return toCheckoutSession(row), nil
}

// OpenCheckoutSession returns the org's newest session that is open and expires
// after at, or billing.ErrNotFound.
func (s *Store) OpenCheckoutSession(ctx context.Context, orgID string, at time.Time) (billing.CheckoutSession, error) {
	var row checkoutSessionRow
	err := s.db.WithContext(ctx).
		Where("org_id = ? AND status = ? AND expires_at > ?", orgID, string(billing.CheckoutOpen), storedTime(at)).
		Order("created_at DESC, id DESC").
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
	err := s.db.WithContext(ctx).Where("org_id = ?", orgID).Order("created_at DESC, id DESC").Take(&row).Error
	if err != nil {
		return billing.CheckoutSession{}, dbError("latest checkout session", err)
	}
	return toCheckoutSession(row), nil
}

// SaveCheckoutSession inserts or replaces a session. CreatedAt is set on the
// first insert (now, when zero) and kept by later saves; a zero UpdatedAt is
// stored as now.
func (s *Store) SaveCheckoutSession(ctx context.Context, cs billing.CheckoutSession) error {
	row := fromCheckoutSession(cs)
	return upsert(ctx, s, "save checkout session", &row)
}
