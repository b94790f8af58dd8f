package store_test

import (
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

func testIdempotentResponses(t *testing.T, s *store.Store) {
	t.Run("IdempotentResponse/ErrNotFound", func(t *testing.T) {
		_, err := s.IdempotentResponse(t.Context(), "org_1", "key_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveIdempotentResponse/KeepsFirst", func(t *testing.T) {
		first := billing.IdempotentResponse{OrgID: uniqueID(t, "org"), Key: "key-1", RequestHash: "h1", SessionID: "cs_1", CreatedAt: t0}
		if err := s.SaveIdempotentResponse(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		second := first
		second.RequestHash, second.SessionID, second.CreatedAt = "h2", "cs_2", t0.Add(time.Hour)
		if err := s.SaveIdempotentResponse(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		got, err := s.IdempotentResponse(t.Context(), first.OrgID, first.Key)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, first)
	})
	t.Run("SaveIdempotentResponse/KeyIsPerOrg", func(t *testing.T) {
		a := billing.IdempotentResponse{OrgID: uniqueID(t, "org_a"), Key: "k", RequestHash: "ha", SessionID: "cs_a", CreatedAt: t0}
		b := billing.IdempotentResponse{OrgID: uniqueID(t, "org_b"), Key: "k", RequestHash: "hb", SessionID: "cs_b", CreatedAt: t0}
		for _, r := range []billing.IdempotentResponse{a, b} {
			if err := s.SaveIdempotentResponse(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.IdempotentResponse(t.Context(), b.OrgID, "k")
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, b)
	})
}
