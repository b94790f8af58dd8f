package store

import (
	"context"
	"slices"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/reconcile"
)

var _ reconcile.Store = (*Store)(nil)

// grantingStatuses are the statuses that may grant access (past_due does when
// PAST_DUE_ACCESS is on): an entitlement in one of them past its period end
// missed its renewal or its end.
var grantingStatuses = []string{string(billing.StatusTrialing), string(billing.StatusActive), string(billing.StatusPastDue)}

// candidateRow is an org and the Customer to list its subscriptions by.
type candidateRow struct {
	OrgID      string
	CustomerID string
}

// Unfinished returns the orgs reconcile should check against Stripe: those
// with a completed checkout whose subscription is not stored (its event never
// came), and those whose entitlement still grants access after its period end.
// The Customer is the org's own, else the one the checkout completed with.
func (s *Store) Unfinished(ctx context.Context, now time.Time) ([]reconcile.Candidate, error) {
	checkouts, err := find(s.db.WithContext(ctx).Raw(`
		SELECT cs.org_id AS org_id, COALESCE(NULLIF(o.stripe_customer_id, ''), cs.customer_id) AS customer_id
		FROM checkout_sessions cs JOIN organizations o ON o.id = cs.org_id
		WHERE cs.status = ?
		  AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE
		        (cs.subscription_id <> '' AND s.id = cs.subscription_id) OR
		        (cs.subscription_id = '' AND s.org_id = cs.org_id))`, string(billing.CheckoutComplete)),
		"find checkouts without subscription", candidate(reconcile.ReasonCheckoutWithoutSubscription))
	if err != nil {
		return nil, err
	}
	lapsed, err := find(s.db.WithContext(ctx).Raw(`
		SELECT e.org_id AS org_id, COALESCE(o.stripe_customer_id, '') AS customer_id
		FROM entitlements e JOIN organizations o ON o.id = e.org_id
		WHERE e.status IN ? AND e.current_period_end < ?`, grantingStatuses, storedTime(now)),
		"find entitlements past their period", candidate(reconcile.ReasonAccessAfterPeriodEnd))
	if err != nil {
		return nil, err
	}
	return append(checkouts, lapsed...), nil
}

// WithCustomer returns every org that has a Stripe Customer, for a backfill.
func (s *Store) WithCustomer(ctx context.Context) ([]reconcile.Candidate, error) {
	return find(s.db.WithContext(ctx).Raw(`
		SELECT id AS org_id, stripe_customer_id AS customer_id FROM organizations
		WHERE stripe_customer_id IS NOT NULL AND stripe_customer_id <> '' ORDER BY id`),
		"find organizations with a customer", candidate(reconcile.ReasonBackfill))
}

func candidate(reason string) func(candidateRow) reconcile.Candidate {
	return func(r candidateRow) reconcile.Candidate {
		return reconcile.Candidate{OrgID: r.OrgID, CustomerID: r.CustomerID, Reason: reason}
	}
}

// PruneEvents deletes the receipts of Stripe events created before cutoff.
// Stripe stops retrying an event after three days, and a redelivery of a pruned
// one is still kept from applying twice by the order rules (its effect is older
// than the stored state).
func (s *Store) PruneEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created < ?", storedTime(cutoff)).Delete(&stripeEventRow{})
	if res.Error != nil {
		return 0, dbError("prune events", res.Error)
	}
	return res.RowsAffected, nil
}

// recordedBatch bounds the ids in one IN list, well under both databases'
// limits on bound parameters.
const recordedBatch = 500

// RecordedEvents returns those of ids whose events are recorded, in any order.
func (s *Store) RecordedEvents(ctx context.Context, ids []string) ([]string, error) {
	var known []string
	for batch := range slices.Chunk(ids, recordedBatch) {
		var got []string
		if err := s.db.WithContext(ctx).Model(&stripeEventRow{}).Where("id IN ?", batch).Pluck("id", &got).Error; err != nil {
			return nil, dbError("find recorded events", err)
		}
		known = append(known, got...)
	}
	return known, nil
}
