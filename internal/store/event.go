package store

import (
	"context"
	"fmt"
	"time"

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
	r := fromEventRecord(ev)
	inserted, err := exec(ctx, s.db, "record event", recordEventSQL, r.ID, r.Type, r.Created, r.ReceivedAt, r.OrgID, r.Outcome)
	if err != nil {
		return err
	}
	if inserted == 0 {
		return fmt.Errorf("store: record event %s: %w", ev.ID, billing.ErrDuplicateEvent)
	}
	return nil
}

const recordEventSQL = "INSERT INTO stripe_events (id, type, created, received_at, org_id, outcome) VALUES (?, ?, ?, ?, ?, ?) " +
	"ON CONFLICT (id) DO NOTHING"

// SetEventOutcome records what applying an event did, once it is known.
func (s *Store) SetEventOutcome(ctx context.Context, id, orgID string, outcome billing.EventOutcome) error {
	updated, err := exec(ctx, s.db, "set event outcome", "UPDATE stripe_events SET org_id = ?, outcome = ? WHERE id = ?",
		orgID, string(outcome), id)
	if err != nil {
		return err
	}
	if updated == 0 {
		return fmt.Errorf("store: set outcome of event %s: %w", id, billing.ErrNotFound)
	}
	return nil
}
