package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
)

// The statements of billing's event batches, each over many rows, on
// PostgreSQL (the only store that batches events).
func TestPostgres_EventBatchStatements(t *testing.T) {
	s := storetest.OpenPostgres(t)
	if !s.BatchesEvents() {
		t.Fatal("PostgreSQL store does not batch events")
	}
	if storetest.OpenSQLite(t).BatchesEvents() {
		t.Fatal("SQLite store batches events; its one writer commits them together instead")
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, org := range []string{"org_a", "org_b"} {
		if _, err := s.EnsureOrganization(ctx, billing.Organization{ID: org, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordEvent(ctx, event("evt_old")); err != nil {
		t.Fatal(err)
	}
	sub := func(id, org string, quantity int) billing.SubscriptionState {
		return billing.SubscriptionState{Subscription: billing.Subscription{ID: id, Status: billing.StatusActive, Quantity: quantity},
			OrgID: org, Plan: "pro", EventCreated: now, UpdatedAt: now}
	}
	ent := func(org string, version int64) billing.Entitlement {
		return billing.Entitlement{OrgID: org, SubscriptionPlan: "pro", Status: billing.StatusActive, EventCreated: now, UpdatedAt: now, Version: version}
	}
	if err := s.SaveSubscription(ctx, sub("sub_a1", "org_a", 1)); err != nil {
		t.Fatal(err)
	}

	err := s.InTx(ctx, func(tx billing.Store) error {
		btx := tx.(billing.EventBatchTx)
		inserted, err := btx.RecordEvents(ctx, []billing.EventRecord{event("evt_1"), event("evt_2"), event("evt_old"), event("evt_3")})
		if err != nil {
			return err
		}
		if !inserted["evt_1"] || !inserted["evt_2"] || !inserted["evt_3"] || inserted["evt_old"] || len(inserted) != 3 {
			t.Errorf("inserted = %v, want evt_1, evt_2, evt_3 (evt_old was stored)", inserted)
		}
		if err := btx.ForgetEvents(ctx, []string{"evt_3"}); err != nil {
			return err
		}
		out := []billing.EventRecord{{ID: "evt_1", OrgID: "org_a", Outcome: billing.OutcomeStale}, {ID: "evt_2", OrgID: "org_x", Outcome: billing.OutcomeUnknownOrg}}
		if err := btx.SetEventOutcomes(ctx, out); err != nil {
			return err
		}
		if err := btx.SetEventOutcomes(ctx, []billing.EventRecord{{ID: "evt_none", Outcome: billing.OutcomeStale}}); !errors.Is(err, billing.ErrNotFound) {
			t.Errorf("SetEventOutcomes of no receipt: err = %v, want ErrNotFound", err)
		}

		subs, err := btx.LockSubscriptions(ctx, []string{"sub_a1", "sub_new"})
		if err != nil {
			return err
		}
		if len(subs) != 1 || subs[0].ID != "sub_a1" || subs[0].Quantity != 1 {
			t.Errorf("LockSubscriptions = %+v, want sub_a1 only", subs)
		}
		orgs, err := btx.LockOrganizations(ctx, []string{"org_b", "org_a", "org_ghost"})
		if err != nil {
			return err
		}
		if len(orgs) != 2 || orgs[0].ID != "org_a" || orgs[1].ID != "org_b" {
			t.Errorf("LockOrganizations = %+v, want org_a, org_b in id order", orgs)
		}
		if err := btx.SaveSubscriptions(ctx, []billing.SubscriptionState{sub("sub_a1", "org_b", 5), sub("sub_new", "org_a", 2), sub("sub_c", "org_c", 3)}); err != nil {
			return err
		}
		if err := btx.SaveEntitlements(ctx, []billing.Entitlement{ent("org_a", 1), ent("org_b", 4)}); err != nil {
			return err
		}
		subs, ents, err := btx.EntitlementInputsOf(ctx, []string{"org_a", "org_b"}, []string{"sub_c"})
		if err != nil {
			return err
		}
		var ids []string
		for _, s := range subs {
			ids = append(ids, s.ID+"@"+s.OrgID)
		}
		slices.Sort(ids)
		if want := []string{"sub_a1@org_b", "sub_c@org_c", "sub_new@org_a"}; !slices.Equal(ids, want) {
			t.Errorf("EntitlementInputsOf subscriptions = %v, want %v", ids, want)
		}
		if len(ents) != 2 || ents[0].Version+ents[1].Version != 5 {
			t.Errorf("EntitlementInputsOf entitlements = %+v, want org_a's and org_b's", ents)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for id, want := range map[string][2]string{"evt_1": {"org_a", "stale"}, "evt_2": {"org_x", "unknown_org"}} {
		org, outcome, err := s.EventOutcome(ctx, id)
		if err != nil || org != want[0] || outcome != want[1] {
			t.Errorf("%s: org %q outcome %q (%v), want %v", id, org, outcome, err, want)
		}
	}
	if _, _, err := s.EventOutcome(ctx, "evt_3"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("forgotten evt_3: err = %v, want no receipt", err)
	}
	if got, err := s.Subscription(ctx, "sub_a1"); err != nil || got.OrgID != "org_b" || got.Quantity != 5 {
		t.Errorf("sub_a1 = %+v (%v), want replaced: org_b, quantity 5", got, err)
	}
	if got, err := s.Entitlement(ctx, "org_b"); err != nil || got.Version != 4 {
		t.Errorf("org_b entitlement = %+v (%v), want version 4", got, err)
	}
}
