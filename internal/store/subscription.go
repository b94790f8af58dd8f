package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/billingd/billingd/internal/billing"
)

type subscriptionRow struct {
	ID                string `gorm:"primaryKey"`
	OrgID             string
	CustomerID        string
	Status            string
	Plan              string
	PriceID           string
	LookupKey         string
	Interval          string
	Quantity          int
	TrialEnd          *time.Time
	CurrentPeriodEnd  *time.Time
	CancelAtPeriodEnd bool
	CancelAt          *time.Time
	EventCreated      time.Time
	UpdatedAt         time.Time `gorm:"autoUpdateTime:false"`
}

func (subscriptionRow) TableName() string { return "subscriptions" }

// toSubscriptionState returns the stored state. The row keeps only the org
// the subscription was resolved to, not its metadata, and only the status
// billing mapped (not Stripe's raw one).
func toSubscriptionState(r subscriptionRow) billing.SubscriptionState {
	return billing.SubscriptionState{
		Subscription: billing.Subscription{
			ID:                r.ID,
			CustomerID:        r.CustomerID,
			Status:            billing.Status(r.Status),
			PriceID:           r.PriceID,
			LookupKey:         r.LookupKey,
			Interval:          billing.Interval(r.Interval),
			Quantity:          r.Quantity,
			TrialEnd:          loadedTimePtr(r.TrialEnd),
			CurrentPeriodEnd:  loadedTimePtr(r.CurrentPeriodEnd),
			CancelAtPeriodEnd: r.CancelAtPeriodEnd,
			CancelAt:          loadedTimePtr(r.CancelAt),
		},
		OrgID:        r.OrgID,
		Plan:         r.Plan,
		EventCreated: r.EventCreated.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
}

func fromSubscriptionState(s billing.SubscriptionState) subscriptionRow {
	return subscriptionRow{
		ID:                s.ID,
		OrgID:             s.OrgID,
		CustomerID:        s.CustomerID,
		Status:            string(s.Status),
		Plan:              s.Plan,
		PriceID:           s.PriceID,
		LookupKey:         s.LookupKey,
		Interval:          string(s.Interval),
		Quantity:          s.Quantity,
		TrialEnd:          storedTimePtr(s.TrialEnd),
		CurrentPeriodEnd:  storedTimePtr(s.CurrentPeriodEnd),
		CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		CancelAt:          storedTimePtr(s.CancelAt),
		EventCreated:      storedTime(s.EventCreated),
		UpdatedAt:         storedTimeOr(s.UpdatedAt),
	}
}

// Subscription returns a subscription's stored state, or billing.ErrNotFound.
func (s *Store) Subscription(ctx context.Context, id string) (billing.SubscriptionState, error) {
	row, err := take[subscriptionRow](ctx, s.db, "subscription", map[string]any{"id": id})
	if err != nil {
		return billing.SubscriptionState{}, err
	}
	return toSubscriptionState(row), nil
}

// LockSubscription is Subscription that, inside a transaction, also locks the
// row (SELECT … FOR UPDATE on PostgreSQL; SQLite's single writer needs none).
func (s *Store) LockSubscription(ctx context.Context, id string) (billing.SubscriptionState, error) {
	var lock []clause.Expression
	if s.inTx {
		lock = append(lock, clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	row, err := take[subscriptionRow](ctx, s.db, "lock subscription", map[string]any{"id": id}, lock...)
	if err != nil {
		return billing.SubscriptionState{}, err
	}
	return toSubscriptionState(row), nil
}

// EntitlementInputs reads the org's subscriptions and its entitlement in one
// statement: a row per subscription (or one without, when it has none), each
// beside the entitlement (empty when none was written).
func (s *Store) EntitlementInputs(ctx context.Context, orgID string) (billing.EntitlementInputs, error) {
	var rows []inputsRow
	if err := s.db.WithContext(ctx).Raw(entitlementInputsSQL, orgID, orgID).Find(&rows).Error; err != nil {
		return billing.EntitlementInputs{}, dbError("subscriptions and entitlement of organization", err)
	}
	var in billing.EntitlementInputs
	for _, r := range rows {
		if r.E.OrgID != "" && in.Entitlement == nil {
			e := toEntitlement(r.E)
			in.Entitlement = &e
		}
		if r.S.ID != "" {
			in.Subscriptions = append(in.Subscriptions, toSubscriptionState(r.S))
		}
	}
	return in, nil
}

// inputsRow is a row of entitlementInputsSQL; a side the outer joins did not
// find is all zero.
type inputsRow struct {
	E entitlementRow  `gorm:"embedded;embeddedPrefix:e_"`
	S subscriptionRow `gorm:"embedded;embeddedPrefix:s_"`
}

var entitlementInputsSQL = "SELECT " +
	selectAs("e", "e_", "org_id", "plan", "status", "subscription_id", "price_id", "interval", "seats", "trial_end",
		"current_period_end", "cancel_at_period_end", "cancel_at", "event_created", "updated_at", "version") + ", " +
	selectAs("s", "s_", "id", "org_id", "customer_id", "status", "plan", "price_id", "lookup_key", "interval", "quantity",
		"trial_end", "current_period_end", "cancel_at_period_end", "cancel_at", "event_created", "updated_at") +
	` FROM (SELECT 1 AS one) one
LEFT JOIN entitlements e ON e.org_id = ?
LEFT JOIN subscriptions s ON s.org_id = ?
ORDER BY s.id`

// selectAs lists table's columns, each renamed with prefix, quoted for both
// databases ("interval" is a keyword on PostgreSQL).
func selectAs(table, prefix string, columns ...string) string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = table + `."` + c + `" AS "` + prefix + c + `"`
	}
	return strings.Join(out, ", ")
}

// SaveSubscription inserts or replaces a subscription's state. A zero UpdatedAt
// is stored as now.
func (s *Store) SaveSubscription(ctx context.Context, st billing.SubscriptionState) error {
	row := fromSubscriptionState(st)
	return upsert(ctx, s, "save subscription", &row)
}
