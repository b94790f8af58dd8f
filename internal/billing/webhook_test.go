package billing_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// The webhook rules are split by rule: this file holds idempotence and what a
// subscription grants; see webhook_order_test.go, webhook_final_test.go,
// webhook_org_test.go, webhook_objects_test.go and payloads_test.go.

func TestHandleEvent_Idempotent(t *testing.T) {
	t.Run("DuplicateHasNoSecondEffect", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		e.handle(t, ev)
		// A later event, then the first one again: the redelivery must not undo it.
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(time.Second)))
		res := e.handle(t, ev)
		if !res.Duplicate() {
			t.Fatalf("redelivery outcome = %s, want duplicate", res.Outcome)
		}
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusPastDue {
			t.Fatalf("after redelivery status = %s, want past_due kept", got.Status)
		}
	})

	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		t.Run("TenConcurrentDuplicatesHaveOneEffect", func(t *testing.T) {
			e := newEnv(t, st)
			e.ensureOrg(t, "org_conc")
			ev := subEvent("evt_conc", billing.EventSubscriptionCreated, "org_conc", "sub_conc", billing.StatusActive, t0)
			var wg sync.WaitGroup
			results := make([]billing.EventResult, 10)
			errs := make([]error, 10)
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = e.svc.HandleEvent(context.Background(), ev)
				}()
			}
			wg.Wait()
			applied, dup := 0, 0
			for i := range 10 {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				switch results[i].Outcome {
				case billing.OutcomeApplied:
					applied++
				case billing.OutcomeDuplicate:
					dup++
				}
			}
			if applied != 1 || dup != 9 {
				t.Fatalf("applied=%d duplicate=%d, want 1 and 9", applied, dup)
			}
			if got := e.entitlement(t, "org_conc"); got.Plan != "pro" {
				t.Fatalf("plan = %s, want pro", got.Plan)
			}
		})
	})

	t.Run("RedeliveryNeverCallsStripe", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		e.handle(t, ev)
		e.payments.ResetCalls()
		// Stripe is down: a redelivery must still be acknowledged as a duplicate.
		e.payments.Fail = &billing.Error{Code: billing.EUpstream, Message: "Stripe request failed"}
		if res := e.handle(t, ev); !res.Duplicate() {
			t.Fatalf("outcome = %s, want duplicate", res.Outcome)
		}
		if calls := e.payments.Calls(); len(calls) != 0 {
			t.Fatalf("redelivery called Stripe: %v", calls)
		}
	})

	t.Run("DatabaseFailureWritesNothing", func(t *testing.T) {
		st := storetest.OpenSQLite(t)
		failing := &failingStore{Store: st, failSaveEntitlement: true}
		e := newEnv(t, failing)
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		if _, err := e.svc.HandleEvent(context.Background(), ev); err == nil {
			t.Fatal("HandleEvent succeeded although the database failed")
		}
		_, err := st.Subscription(context.Background(), "sub_1")
		mustNotFound(t, err, "subscription after failed transaction")
		// Stripe retries; now the database works and the event applies.
		failing.failSaveEntitlement = false
		if res := e.handle(t, ev); res.Outcome != billing.OutcomeApplied {
			t.Fatalf("retry outcome = %s, want applied (event must not have been recorded)", res.Outcome)
		}
	})

	t.Run("OtherTypesAreRecorded", func(t *testing.T) {
		e := newSQLiteEnv(t)
		ev := billing.Event{ID: "evt_x", Type: "product.created", Created: t0}
		if r := e.handle(t, ev); r.Outcome != billing.OutcomeIgnored {
			t.Fatalf("outcome = %s, want ignored", r.Outcome)
		}
		if r := e.handle(t, ev); !r.Duplicate() {
			t.Fatalf("redelivery = %s, want duplicate", r.Outcome)
		}
	})
}

func TestHandleEvent_Subscription(t *testing.T) {
	t.Run("CreatedActiveGrantsPlan", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		res := e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		if res.Outcome != billing.OutcomeApplied {
			t.Fatalf("outcome = %s, want applied", res.Outcome)
		}
		got := e.entitlement(t, "org_a")
		if got.Plan != "pro" || got.Status != billing.StatusActive || !got.Active || got.Seats != 1 || len(got.Features) == 0 {
			t.Fatalf("entitlement = %+v, want active pro with features and 1 seat", got)
		}
		if got.CurrentPeriodEnd == nil || !got.CurrentPeriodEnd.Equal(t0.Add(30*24*time.Hour)) {
			t.Fatalf("currentPeriodEnd = %v", got.CurrentPeriodEnd)
		}
	})

	t.Run("PlanByPriceIDWhenPriceHasNoLookupKey", func(t *testing.T) {
		e := newSQLiteEnv(t) // a fresh process: nothing resolved yet
		e.ensureOrg(t, "org_a")
		ev := subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0)
		ev.Subscription.LookupKey, ev.Subscription.PriceID = "", "price_team_yearly"
		e.handle(t, ev)
		if got := e.entitlement(t, "org_a"); got.Plan != "team" {
			t.Fatalf("plan = %s, want team (by the catalog's price id)", got.Plan)
		}
		// The prices are now known: a later event costs no Stripe call.
		e.payments.ResetCalls()
		next := subEvent("evt_2", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0.Add(time.Second))
		next.Subscription.LookupKey, next.Subscription.PriceID = "", "price_team_yearly"
		e.handle(t, next)
		if calls := e.payments.Calls(); len(calls) != 0 {
			t.Fatalf("stripe calls = %v, want none once the prices are known", calls)
		}
	})

	t.Run("PastDueWithoutGraceIsFree", func(t *testing.T) {
		e := newSQLiteEnv(t, func(o *billing.Options) { o.Access.PastDueAccess = false })
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusPastDue, t0))
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Active {
			t.Fatalf("past_due without grace: plan %s active %t, want free", got.Plan, got.Active)
		}
	})

	t.Run("PausedIsFreeAndResumedGrantsAgain", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		e.handle(t, subEvent("evt_2", billing.EventSubscriptionPaused, "org_a", "sub_1", billing.StatusPaused, t0.Add(time.Second)))
		if got := e.entitlement(t, "org_a"); got.Plan != billing.FreePlan || got.Status != billing.StatusPaused {
			t.Fatalf("paused: %s/%s, want free/paused", got.Plan, got.Status)
		}
		e.handle(t, subEvent("evt_3", billing.EventSubscriptionResumed, "org_a", "sub_1", billing.StatusActive, t0.Add(2*time.Second)))
		if got := e.entitlement(t, "org_a"); got.Plan != "pro" || got.Status != billing.StatusActive {
			t.Fatalf("resumed: %s/%s, want pro/active", got.Plan, got.Status)
		}
	})

	t.Run("TrialWillEndIsOnlyLogged", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionUpdated, "org_a", "sub_1", billing.StatusActive, t0.Add(time.Hour)))
		// It carries the subscription as it was days before the trial ended.
		e.handle(t, subEvent("evt_2", billing.EventTrialWillEnd, "org_a", "sub_1", billing.StatusTrialing, t0.Add(2*time.Hour)))
		if got := e.entitlement(t, "org_a"); got.Status != billing.StatusActive {
			t.Fatalf("status = %s, want active untouched", got.Status)
		}
	})
}

// failingStore makes SaveEntitlement fail inside transactions.
type failingStore struct {
	billing.Store
	failSaveEntitlement bool
}

func (f *failingStore) InTx(ctx context.Context, fn func(billing.Store) error) error {
	return f.Store.InTx(ctx, func(tx billing.Store) error {
		return fn(&failingStore{Store: tx, failSaveEntitlement: f.failSaveEntitlement})
	})
}

func (f *failingStore) SaveEntitlement(ctx context.Context, e billing.Entitlement) error {
	if f.failSaveEntitlement {
		return errors.New("database is down")
	}
	return f.Store.SaveEntitlement(ctx, e)
}

// logRecorder is a slog.Handler that keeps every record, for tests of what
// an operator is told.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func withLogs(rec *logRecorder) func(*billing.Options) {
	return func(o *billing.Options) { o.Logger = slog.New(rec) }
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// warned reports whether a warning whose message contains msg was logged with
// at least the attributes attrs.
func (r *logRecorder) warned(msg string, attrs map[string]string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Level != slog.LevelWarn || !strings.Contains(rec.Message, msg) {
			continue
		}
		matched := 0
		rec.Attrs(func(a slog.Attr) bool {
			if want, ok := attrs[a.Key]; ok && a.Value.String() == want {
				matched++
			}
			return true
		})
		if matched == len(attrs) {
			return true
		}
	}
	return false
}
