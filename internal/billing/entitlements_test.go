package billing_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
)

// batchRecordingStore records the org ids of each batch entitlement read, and
// runs afterRead, if set, once the read has returned.
type batchRecordingStore struct {
	billing.Store
	afterRead func()

	mu      sync.Mutex
	batches [][]string
}

func (s *batchRecordingStore) EntitlementsOf(ctx context.Context, orgIDs []string) ([]billing.Entitlement, error) {
	s.mu.Lock()
	s.batches = append(s.batches, slices.Sorted(slices.Values(orgIDs)))
	s.mu.Unlock()
	got, err := s.Store.EntitlementsOf(ctx, orgIDs)
	if s.afterRead != nil {
		s.afterRead()
	}
	return got, err
}

func (s *batchRecordingStore) Batches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func TestEntitlements(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*env, *batchRecordingStore) {
		st := &batchRecordingStore{Store: storetest.OpenSQLite(t)}
		return newEnv(t, st), st
	}

	t.Run("InTheOrderAskedWithRepeats", func(t *testing.T) {
		e, _ := setup(t)
		e.ensureOrg(t, "org_pro")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_pro", "sub_1", billing.StatusActive, t0))
		asked := []string{"org_new", "org_pro", "org_new", "org_pro"}

		got := e.entitlements(t, asked)
		if len(got) != len(asked) {
			t.Fatalf("%d views for %d ids", len(got), len(asked))
		}
		for i, id := range asked {
			// Each is exactly what the one-org read answers.
			if want := e.entitlement(t, id); !reflect.DeepEqual(got[i], want) {
				t.Fatalf("view %d = %+v, want %+v", i, got[i], want)
			}
		}
		if got[1].Plan != "pro" || !got[1].Active {
			t.Fatalf("org_pro = %s active=%t, want pro, active", got[1].Plan, got[1].Active)
		}
	})

	t.Run("NeverSeenOrgIsFreeAndNothingIsWritten", func(t *testing.T) {
		e, _ := setup(t)
		got := e.entitlements(t, []string{"org_new"})
		if v := got[0]; v.OrgID != "org_new" || v.Plan != billing.FreePlan || v.Status != billing.StatusNone || v.Active || v.UpdatedAt != nil {
			t.Fatalf("view = %+v, want org_new free/none", v)
		}
		e.mustHaveNoRows(t, "org_new")
	})

	t.Run("UncachedOrgsCostOneQuery", func(t *testing.T) {
		e, st := setup(t)
		e.entitlements(t, []string{"org_a", "org_b", "org_a"})
		e.entitlements(t, []string{"org_b", "org_a"})
		e.entitlement(t, "org_c") // cached by the one-org read
		e.entitlements(t, []string{"org_c", "org_d", "org_a"})
		want := [][]string{{"org_a", "org_b"}, {"org_d"}}
		if got := st.Batches(); !reflect.DeepEqual(got, want) {
			t.Fatalf("batch reads %v, want %v: each uncached org once, cached ones never", got, want)
		}
	})

	t.Run("NothingToReadIsNoQuery", func(t *testing.T) {
		e, st := setup(t)
		if got := e.entitlements(t, nil); len(got) != 0 {
			t.Fatalf("views = %+v, want none", got)
		}
		if got := st.Batches(); len(got) != 0 {
			t.Fatalf("batch reads %v, want none", got)
		}
	})

	t.Run("AppliedEventIsSeenAtOnce", func(t *testing.T) {
		e, _ := setup(t)
		e.ensureOrg(t, "org_a")
		e.entitlements(t, []string{"org_a"}) // free, now cached
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if v := e.entitlements(t, []string{"org_a"})[0]; v.Plan != "pro" {
			t.Fatalf("plan after the event = %s, want pro: the write did not drop the cached view", v.Plan)
		}
	})

	t.Run("ChangeDuringTheReadIsNotCachedOver", func(t *testing.T) {
		e, st := setup(t)
		// Another replica writes and notifies after our read, before we cache it.
		st.afterRead = func() {
			st.afterRead = nil
			activeBehindTheCache(t, st.Store, "org_a")
			e.notifier.Notify(ctx, "org_a")
		}
		e.entitlements(t, []string{"org_a"})
		if v := e.entitlements(t, []string{"org_a"})[0]; v.Plan != "pro" {
			t.Fatalf("plan = %s, want pro: a read older than the change was cached", v.Plan)
		}
	})
}

func (e *env) entitlements(tb testing.TB, orgIDs []string) []billing.EntitlementView {
	tb.Helper()
	views, err := e.svc.Entitlements(context.Background(), orgIDs)
	if err != nil {
		tb.Fatalf("Entitlements(%v): %v", orgIDs, err)
	}
	return views
}
