package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/billingd/billingd/internal/billing"
)

type idempotencyKeyRow struct {
	OrgID       string `gorm:"primaryKey"`
	Key         string `gorm:"primaryKey"`
	RequestHash string
	SessionID   string
	CreatedAt   time.Time
}

func (idempotencyKeyRow) TableName() string { return "idempotency_keys" }

func toIdempotentResponse(r idempotencyKeyRow) billing.IdempotentResponse {
	return billing.IdempotentResponse{
		OrgID:       r.OrgID,
		Key:         r.Key,
		RequestHash: r.RequestHash,
		SessionID:   r.SessionID,
		CreatedAt:   r.CreatedAt.UTC(),
	}
}

func fromIdempotentResponse(r billing.IdempotentResponse) idempotencyKeyRow {
	return idempotencyKeyRow{
		OrgID:       r.OrgID,
		Key:         r.Key,
		RequestHash: r.RequestHash,
		SessionID:   r.SessionID,
		CreatedAt:   storedTimeOr(r.CreatedAt),
	}
}

// SaveIdempotentResponse stores a response unless one exists for (OrgID, Key):
// the first response wins, so a retry can never change an earlier answer.
func (s *Store) SaveIdempotentResponse(ctx context.Context, r billing.IdempotentResponse) error {
	row := fromIdempotentResponse(r)
	err := s.db.WithContext(ctx).
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "org_id"}, {Name: "key"}}, DoNothing: true}).
		Create(&row).Error
	if err != nil {
		return dbError("save idempotent response", err)
	}
	return nil
}
