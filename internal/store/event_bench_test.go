package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// BenchmarkHandleEvent_SQLiteFile is make bench's SQLite ingest without
// HTTP: 32 concurrent writers applying subscription events, each an update
// of the one subscription of one of 200 orgs, on a SQLite file. cpu-µs/op
// is the process's CPU per event, what the shared cores of make bench run
// out of. Unlike make bench, an org's next event does not wait for the one
// before it, so the older of two may land second and be stale.
func BenchmarkHandleEvent_SQLiteFile(b *testing.B) {
	s := storetest.MustOpen(b, "sqlite:"+filepath.Join(b.TempDir(), "billing.db"))
	s.SetOutbox(discardOutbox{}) // make bench's SQLite replica has no event endpoints
	ctx := context.Background()
	svc := billing.NewService(s, billingtest.NewPayments(), notify.NewLocal(), billing.Options{
		DefaultSuccessURL: "https://app.example.com/billing/success", DefaultCancelURL: "https://app.example.com/billing",
	})
	const orgs = 200
	for i := range orgs {
		org := fmt.Sprintf("org_bench_%d", i)
		if _, err := s.EnsureOrganization(ctx, billing.Organization{ID: org}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.SetCustomerID(ctx, org, "cus_"+org); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now().Truncate(time.Second)
	var n atomic.Int64
	event := func() billing.Event {
		i := n.Add(1)
		org := fmt.Sprintf("org_bench_%d", i%orgs)
		// Each event of an org is one second newer than the one before.
		created := start.Add(time.Duration(i) * time.Second)
		end := created.Add(30 * 24 * time.Hour)
		status := billing.StatusActive
		if i%2 == 1 {
			status = billing.StatusTrialing
		}
		return billing.Event{ID: fmt.Sprintf("evt_bench_%d", i), Type: billing.EventSubscriptionUpdated, Created: created,
			Subscription: &billing.Subscription{
				ID: "sub_" + org, CustomerID: "cus_" + org, MetadataOrgID: org, Status: status,
				PriceID: "price_pro_monthly", LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 1, CurrentPeriodEnd: &end,
			}}
	}
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0))) // 32 writers, as make bench has
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := svc.HandleEvent(ctx, event())
			if err != nil || (res.Outcome != billing.OutcomeApplied && res.Outcome != billing.OutcomeStale) {
				b.Errorf("HandleEvent = %v, %v", res.Outcome, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

type discardOutbox struct{}

func (discardOutbox) InsertTx(context.Context, *sql.Tx, []billing.Message) error { return nil }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var _ store.Outbox = discardOutbox{}

// BenchmarkEntitlement_SQLiteFile is an entitlement read that misses
// billing's cache, on a SQLite file: in this process, unlike PostgreSQL's.
func BenchmarkEntitlement_SQLiteFile(b *testing.B) {
	s := storetest.MustOpen(b, "sqlite:"+filepath.Join(b.TempDir(), "billing.db"))
	ctx := context.Background()
	end := time.Now().Add(time.Hour)
	e := billing.Entitlement{OrgID: "org_bench", SubscriptionPlan: "pro", Status: billing.StatusActive, SubscriptionID: "sub_bench",
		PriceID: "price_pro_monthly", Interval: billing.Month, Seats: 1, CurrentPeriodEnd: &end, EventCreated: time.Now()}
	if err := s.SaveEntitlement(ctx, e); err != nil {
		b.Fatal(err)
	}
	cpu := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Entitlement(ctx, e.OrgID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}
