package store

import (
	"context"
	"database/sql"
	"time"

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

// entitlementColumns are entitlementRow's columns, in the order of its
// fields (see fields).
var entitlementColumns = []string{"org_id", "plan", "status", "subscription_id", "price_id", "interval", "seats",
	"trial_end", "current_period_end", "cancel_at_period_end", "cancel_at", "event_created", "updated_at", "version"}

func (r *entitlementRow) fields() []any {
	return []any{&r.OrgID, &r.Plan, &r.Status, &r.SubscriptionID, &r.PriceID, &r.Interval, &r.Seats,
		&r.TrialEnd, &r.CurrentPeriodEnd, &r.CancelAtPeriodEnd, &r.CancelAt, &r.EventCreated, &r.UpdatedAt, &r.Version}
}

func (r entitlementRow) values() []any {
	return []any{r.OrgID, r.Plan, r.Status, r.SubscriptionID, r.PriceID, r.Interval, r.Seats,
		r.TrialEnd, r.CurrentPeriodEnd, r.CancelAtPeriodEnd, r.CancelAt, r.EventCreated, r.UpdatedAt, r.Version}
}

var (
	selectEntitlementSQL = "SELECT " + columnList("", entitlementColumns) + " FROM entitlements WHERE org_id = ?"
	replaceEntitlement   = replacementOf("entitlements", entitlementColumns)
)

// Entitlement returns the org's entitlement, or billing.ErrNotFound if none was written.
func (s *Store) Entitlement(ctx context.Context, orgID string) (billing.Entitlement, error) {
	var row entitlementRow
	err := queryRow(ctx, s.db, "entitlement", selectEntitlementSQL, []any{orgID}, func(rows *sql.Rows) error {
		return rows.Scan(row.fields()...)
	})
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
	return s.replace(ctx, "save entitlement", replaceEntitlement, fromEntitlement(e).values()...)
}
