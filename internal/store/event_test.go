package store_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

func testEvents(t *testing.T, s *store.Store) {
	t.Run("RecordEvent/OK", func(t *testing.T) {
		if err := s.RecordEvent(t.Context(), event(uniqueID(t, "evt"))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RecordEvent/ErrDuplicateEvent", func(t *testing.T) {
		ev := event(uniqueID(t, "evt"))
		if err := s.RecordEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordEvent(t.Context(), ev); !errors.Is(err, billing.ErrDuplicateEvent) {
			t.Fatalf("err = %v, want ErrDuplicateEvent", err)
		}
	})
	for _, tc := range []struct {
		name        string
		effectFirst bool
	}{{"RecordThenEffect", false}, {"EffectThenRecord", true}} {
		t.Run("RecordEvent/ConcurrentDeliveriesApplyOnce/"+tc.name, func(t *testing.T) {
			orgID, eventID := uniqueID(t, "org"), uniqueID(t, "evt")
			const n = 10
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = s.InTx(t.Context(), func(tx billing.Store) error {
						steps := []func() error{
							func() error { return tx.RecordEvent(t.Context(), event(eventID)) },
							func() error { return tx.SaveEntitlement(t.Context(), entitlement(orgID, i+1)) },
						}
						if tc.effectFirst {
							steps[0], steps[1] = steps[1], steps[0]
						}
						for _, step := range steps {
							if err := step(); err != nil {
								return err
							}
						}
						return nil
					})
				})
			}
			close(start)
			wg.Wait()
			winner, duplicates := -1, 0
			for i, err := range errs {
				switch {
				case err == nil:
					winner = i
				case errors.Is(err, billing.ErrDuplicateEvent):
					duplicates++
				default:
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			if winner < 0 || duplicates != n-1 {
				t.Fatalf("%d duplicates and winner %d; want exactly one success", duplicates, winner)
			}
			e, err := s.Entitlement(t.Context(), orgID)
			if err != nil || e.Seats != winner+1 {
				t.Fatalf("entitlement seats %d (err %v), want the winner's %d", e.Seats, err, winner+1)
			}
		})
	}
}
