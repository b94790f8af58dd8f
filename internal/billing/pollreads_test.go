package billing_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
)

// slowReads is a store whose entitlement reads wait for release, counting
// how many are inside at once.
type slowReads struct {
	billing.Store
	release      chan struct{}
	inside, most atomic.Int32
}

func (s *slowReads) Entitlement(ctx context.Context, orgID string) (billing.Entitlement, error) {
	n := s.inside.Add(1)
	defer s.inside.Add(-1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-s.release
	return s.Store.Entitlement(ctx, orgID)
}

func TestWaitEntitlement_ReadsQueueInsteadOfCrowdingTheDatabase(t *testing.T) {
	st := &slowReads{Store: storetest.OpenSQLite(t), release: make(chan struct{})}
	e := newEnv(t, st, func(o *billing.Options) { o.EntitlementCacheTTL = -1 })
	const polls = 50
	var wg sync.WaitGroup
	errs := make(chan error, polls)
	for i := range polls {
		wg.Go(func() {
			_, err := e.svc.WaitEntitlement(context.Background(), billing.EntitlementQuery{OrgID: fmt.Sprintf("org_%d", i)}, "", 50*time.Millisecond, nil)
			errs <- err
		})
	}
	// The first reads are inside; the rest queue, and their time runs out there.
	time.Sleep(200 * time.Millisecond)
	close(st.release)
	wg.Wait()
	close(errs)
	if most := st.most.Load(); most != 16 {
		t.Fatalf("%d reads inside at once, want 16 (pollReadsAtOnce)", most)
	}
	unavailable := 0
	for err := range errs {
		switch {
		case err == nil:
		case billing.ErrorCode(err) == billing.EUnavailable:
			unavailable++
		default:
			t.Fatalf("WaitEntitlement: %v", err)
		}
	}
	if unavailable != polls-16 {
		t.Fatalf("%d polls unavailable, want the %d that never got to read before their time ran out", unavailable, polls-16)
	}
}
