package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/billingd/billingd/internal/billing"
)

type stripeEventRow struct {
	ID         string `gorm:"primaryKey"`
	Type       string
	Created    time.Time
	ReceivedAt time.Time
	OrgID      string
	Outcome    string
}

func (stripeEventRow) TableName() string { return "stripe_events" }

func fromEventRecord(ev billing.EventRecord) stripeEventRow {
	return stripeEventRow{
		ID:         ev.ID,
		Type:       ev.Type,
		Created:    storedTime(ev.Created),
		ReceivedAt: storedTimeOr(ev.ReceivedAt),
		OrgID:      ev.OrgID,
		Outcome:    string(ev.Outcome),
	}
}

// RecordEvent stores an event receipt, or returns billing.ErrDuplicateEvent if
// the event id is already stored, including by a concurrent transaction.
//
// It inserts with ON CONFLICT (id) DO NOTHING and treats "no row inserted" as a
// duplicate rather than catching a unique violation: on PostgreSQL a violation
// would abort the surrounding transaction, while DO NOTHING leaves it usable.
// A concurrent insert of the same id makes PostgreSQL wait for the other
// transaction: if it commits, this one sees the conflict (duplicate); if it rolls
// back, this insert goes through. SQLite serialises writers, so the same holds.
func (s *Store) RecordEvent(ctx context.Context, ev billing.EventRecord) error {
	row := fromEventRecord(ev)
	res := s.db.WithContext(ctx).
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).
		Create(&row)
	if res.Error != nil {
		return dbError("record event", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: record event %s: %w", ev.ID, billing.ErrDuplicateEvent)
	}
	return nil
}

// SetEventOutcome records what applying an event did, once it is known.
func (s *Store) SetEventOutcome(ctx context.Context, id, orgID string, outcome billing.EventOutcome) error {
	res := s.db.WithContext(ctx).Model(&stripeEventRow{}).Where("id = ?", id).
		Updates(map[string]any{"org_id": orgID, "outcome": string(outcome)})
	if res.Error != nil {
		return dbError("set event outcome", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: set outcome of event %s: %w", id, billing.ErrNotFound)
	}
	return nil
}
