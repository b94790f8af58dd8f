package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/billingd/billingd/internal/billing"
)

type entitlementRow struct {
	OrgID             string `gorm:"primaryKey"`
	Plan              string
	Status            string
	SubscriptionID    string
	PriceID           string
	Interval          string
	Seats             int
	TrialEnd          *time.Time
	CurrentPeriodEnd  *time.Time
	CancelAtPeriodEnd bool
	CancelAt          *time.Time
	EventCreated      time.Time
	UpdatedAt         time.Time `gorm:"autoUpdateTime:false"`
	Version           int64
}

func (entitlementRow) TableName() string { return "entitlements" }

func toEntitlement(r entitlementRow) billing.Entitlement {
	return billing.Entitlement{
		OrgID:             r.OrgID,
		SubscriptionPlan:  r.Plan,
		Status:            billing.Status(r.Status),
		SubscriptionID:    r.SubscriptionID,
		PriceID:           r.PriceID,
		Interval:          billing.Interval(r.Interval),
		Seats:             r.Seats,
		TrialEnd:          loadedTimePtr(r.TrialEnd),
		CurrentPeriodEnd:  loadedTimePtr(r.CurrentPeriodEnd),
		CancelAtPeriodEnd: r.CancelAtPeriodEnd,
		CancelAt:          loadedTimePtr(r.CancelAt),
		EventCreated:      r.EventCreated.UTC(),
		UpdatedAt:         r.UpdatedAt.UTC(),
		Version:           r.Version,
	}
}

func fromEntitlement(e billing.Entitlement) entitlementRow {
	return entitlementRow{
		OrgID:             e.OrgID,
		Plan:              e.SubscriptionPlan,
		Status:            string(e.Status),
		SubscriptionID:    e.SubscriptionID,
		PriceID:           e.PriceID,
		Interval:          string(e.Interval),
		Seats:             e.Seats,
		TrialEnd:          storedTimePtr(e.TrialEnd),
		CurrentPeriodEnd:  storedTimePtr(e.CurrentPeriodEnd),
		CancelAtPeriodEnd: e.CancelAtPeriodEnd,
		CancelAt:          storedTimePtr(e.CancelAt),
		EventCreated:      storedTime(e.EventCreated),
		UpdatedAt:         storedTimeOr(e.UpdatedAt),
		Version:           e.Version,
	}
}

// Entitlement returns the org's entitlement, or billing.ErrNotFound if none was written.
func (s *Store) Entitlement(ctx context.Context, orgID string) (billing.Entitlement, error) {
	row, err := take[entitlementRow](ctx, s.db, "entitlement", map[string]any{"org_id": orgID})
	if err != nil {
		return billing.Entitlement{}, err
	}
	return toEntitlement(row), nil
}

// EntitlementsOf returns the stored entitlements of those of orgIDs that have
// one, in any order.
func (s *Store) EntitlementsOf(ctx context.Context, orgIDs []string) ([]billing.Entitlement, error) {
	if len(orgIDs) == 0 {
		return nil, nil
	}
	q := s.db.WithContext(ctx).Where("org_id IN ?", orgIDs)
	return find(q, "entitlements of organizations", toEntitlement)
}

// SaveEntitlement inserts or replaces the org's entitlement. A zero UpdatedAt
// is stored as now.
func (s *Store) SaveEntitlement(ctx context.Context, e billing.Entitlement) error {
	row := fromEntitlement(e)
	return upsert(ctx, s, "save entitlement", &row)
}

// upsert inserts row or, when its primary key exists, replaces every column
// except created_at (GORM leaves auto-create-time columns alone on conflict).
func upsert(ctx context.Context, s *Store, what string, row any) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(row).Error
	if err != nil {
		return dbError(what, err)
	}
	return nil
}
