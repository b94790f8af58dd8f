package store

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/billingd/billingd/internal/billing"
)

// dbError wraps err with what the store was doing, turning GORM's not-found
// into billing.ErrNotFound so that callers never see GORM's errors by identity.
func dbError(what string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("store: %s: %w", what, billing.ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// storedTime is t as the store keeps it: UTC, microseconds.
func storedTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// storedTimeOr is storedTime(t), or the store's now when t is zero.
func storedTimeOr(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return storedTime(t)
}

func storedTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	st := storedTime(*t)
	return &st
}

// loadedTimePtr returns a read time in UTC (drivers may return local time).
func loadedTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	lt := t.UTC()
	return &lt
}
