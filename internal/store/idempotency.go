package store

import (
	"context"
	"strings"
	"time"

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

// idempotencyKeyColumns are idempotencyKeyRow's columns, in the order of its
// fields.
var idempotencyKeyColumns = []string{"org_id", "key", "request_hash", "session_id", "created_at"}

func (r *idempotencyKeyRow) fields() []any {
	return []any{&r.OrgID, &r.Key, &r.RequestHash, &r.SessionID, &r.CreatedAt}
}

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

func (r idempotencyKeyRow) values() []any {
	return []any{r.OrgID, r.Key, r.RequestHash, r.SessionID, r.CreatedAt}
}

var saveIdempotentResponseSQL = "INSERT INTO idempotency_keys (" + columnList("", idempotencyKeyColumns) + ") VALUES (?" +
	strings.Repeat(", ?", len(idempotencyKeyColumns)-1) + `) ON CONFLICT ("org_id", "key") DO NOTHING`

// SaveIdempotentResponse stores a response unless one exists for (OrgID, Key):
// the first response wins, so a retry can never change an earlier answer.
func (s *Store) SaveIdempotentResponse(ctx context.Context, r billing.IdempotentResponse) error {
	_, err := exec(ctx, s.db, "save idempotent response", saveIdempotentResponseSQL, fromIdempotentResponse(r).values()...)
	return err
}
