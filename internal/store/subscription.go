package store

import (
	"context"
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

// SubscriptionsByOrg returns every stored subscription of the org, ordered by id;
// none is an empty result, not an error.
func (s *Store) SubscriptionsByOrg(ctx context.Context, orgID string) ([]billing.SubscriptionState, error) {
	q := s.db.WithContext(ctx).Where(map[string]any{"org_id": orgID}).Order("id")
	return find(q, "subscriptions by org", toSubscriptionState)
}

// SaveSubscription inserts or replaces a subscription's state. A zero UpdatedAt
// is stored as now.
func (s *Store) SaveSubscription(ctx context.Context, st billing.SubscriptionState) error {
	row := fromSubscriptionState(st)
	return upsert(ctx, s, "save subscription", &row)
}
