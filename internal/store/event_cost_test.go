package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// TestEventCost is the budget of the commonest webhook: a newer
// subscription event for an org that has its Customer. Its receipt is stored
// with its outcome at once, so only an event with another outcome (here a
// stale one) pays a second write of it.
func TestEventCost(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := billing.NewService(s, billingtest.NewPayments(), notify.NewLocal(), billing.Options{
			DefaultSuccessURL: "https://app.example.com/billing/success", DefaultCancelURL: "https://app.example.com/billing",
		})
		org := uniqueID(t, "org")
		if _, err := s.EnsureOrganization(ctx, billing.Organization{ID: org, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetCustomerID(ctx, org, "cus_"+org); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Truncate(time.Second)
		event := func(id string, status billing.Status, created time.Time) billing.Event {
			end := created.Add(30 * 24 * time.Hour)
			return billing.Event{ID: uniqueID(t, id), Type: billing.EventSubscriptionUpdated, Created: created, Subscription: &billing.Subscription{
				ID: "sub_" + org, CustomerID: "cus_" + org, MetadataOrgID: org, Status: status, PriceID: "price_pro_monthly",
				LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 1, CurrentPeriodEnd: &end,
			}}
		}
		handle := func(ev billing.Event, want billing.EventOutcome) {
			t.Helper()
			res, err := svc.HandleEvent(ctx, ev)
			if err != nil || res.Outcome != want {
				t.Fatalf("HandleEvent = %v, %v; want %s", res.Outcome, err, want)
			}
		}
		handle(event("evt_first", billing.StatusTrialing, at), billing.OutcomeApplied)
		var cost statementLog
		if err := store.ObserveStatements(s, cost.add); err != nil {
			t.Fatal(err)
		}

		newer := event("evt_newer", billing.StatusActive, at.Add(time.Second))
		handle(newer, billing.OutcomeApplied)
		want := []string{
			"tx:INSERT",              // the receipt, with its outcome
			"tx:SELECT", "tx:SELECT", // lock the subscription, then its org
			"tx:INSERT",              // upsert the subscription
			"tx:SELECT", "tx:INSERT", // the org's subscriptions and entitlement in one read; the derived one
		}
		if got := cost.kinds(); !slices.Equal(got, want) {
			t.Errorf("applied event: statements = %v, want %v:\n%s", got, want, &cost)
		}

		cost.reset()
		older := event("evt_older", billing.StatusPastDue, at.Add(-time.Hour))
		handle(older, billing.OutcomeStale)
		if got := cost.kinds(); got[len(got)-1] != "tx:UPDATE" {
			t.Errorf("stale event: statements = %v, want the receipt's outcome corrected last:\n%s", got, &cost)
		}
		// What the receipts say, as stored.
		for _, want := range []struct {
			id      string
			outcome billing.EventOutcome
		}{{newer.ID, billing.OutcomeApplied}, {older.ID, billing.OutcomeStale}} {
			query := "SELECT org_id, outcome FROM stripe_events WHERE id = ?"
			if s.Dialect() == store.DialectPostgres {
				query = "SELECT org_id, outcome FROM stripe_events WHERE id = $1"
			}
			var gotOrg, gotOutcome string
			if err := s.ReaderDB().QueryRowContext(ctx, query, want.id).Scan(&gotOrg, &gotOutcome); err != nil {
				t.Fatal(err)
			}
			if gotOrg != org || gotOutcome != string(want.outcome) {
				t.Errorf("receipt of %s: org %q, outcome %q; want %q, %q", want.id, gotOrg, gotOutcome, org, want.outcome)
			}
		}
	})
}
