package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/billingd/billingd/internal/billing"
)

// The statements of billing's event batches (billing.EventBatchTx): each
// reads or writes the rows of many events at once, so that a batch of
// concurrent webhooks costs a few round trips instead of several each.
// PostgreSQL only: SQLite's one writer already commits queued webhooks
// together (see groupcommit.go), and it has no row locks.

// BatchesEvents implements billing.EventBatcher: on PostgreSQL, InTx's
// transaction is a billing.EventBatchTx.
func (s *Store) BatchesEvents() bool { return s.pools.dialect == DialectPostgres }

// RecordEvents stores the receipts, in the order given, and returns the ids
// of those that were new; the others were stored before (or by a concurrent
// transaction, which this one waited for, as RecordEvent does).
func (s *Store) RecordEvents(ctx context.Context, evs []billing.EventRecord) (map[string]bool, error) {
	if len(evs) == 0 {
		return map[string]bool{}, nil
	}
	args := make([]any, 0, 6*len(evs))
	for _, ev := range evs {
		r := fromEventRecord(ev)
		args = append(args, r.ID, r.Type, r.Created, r.ReceivedAt, r.OrgID, r.Outcome)
	}
	query := "INSERT INTO stripe_events (id, type, created, received_at, org_id, outcome) VALUES " +
		rowsOf(len(evs), 6) + " ON CONFLICT (id) DO NOTHING RETURNING id"
	inserted := make(map[string]bool, len(evs))
	err := queryRows(ctx, s.db, "record events", query, args, func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		inserted[id] = true
		return err
	})
	return inserted, err
}

// ForgetEvents deletes receipts this transaction recorded, for events that
// did not apply in it.
func (s *Store) ForgetEvents(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := exec(ctx, s.db, "forget events", "DELETE FROM stripe_events WHERE id IN ?", ids)
	return err
}

// SetEventOutcomes records the org and outcome of each receipt.
func (s *Store) SetEventOutcomes(ctx context.Context, evs []billing.EventRecord) error {
	if len(evs) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(evs))
	for _, ev := range evs {
		args = append(args, ev.ID, ev.OrgID, string(ev.Outcome))
	}
	query := "UPDATE stripe_events AS e SET org_id = v.org_id, outcome = v.outcome FROM (VALUES " +
		rowsOf(len(evs), 3) + ") AS v(id, org_id, outcome) WHERE e.id = v.id"
	updated, err := exec(ctx, s.db, "set event outcomes", query, args...)
	if err == nil && updated != int64(len(evs)) {
		err = fmt.Errorf("store: set event outcomes: %d of %d receipts: %w", updated, len(evs), billing.ErrNotFound)
	}
	return err
}

// LockSubscriptions locks the stored subscriptions among ids, in id order,
// and returns them.
func (s *Store) LockSubscriptions(ctx context.Context, ids []string) ([]billing.SubscriptionState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	query := "SELECT " + columnList("", subscriptionColumns) + " FROM subscriptions WHERE id IN ? ORDER BY id FOR UPDATE"
	var out []billing.SubscriptionState
	err := queryRows(ctx, s.db, "lock subscriptions", query, []any{ids}, func(rows *sql.Rows) error {
		var r subscriptionRow
		err := rows.Scan(r.fields()...)
		out = append(out, toSubscriptionState(r))
		return err
	})
	return out, err
}

// LockOrganizations locks the orgs among ids that exist, in id order, and
// returns them.
func (s *Store) LockOrganizations(ctx context.Context, ids []string) ([]billing.Organization, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	query := "SELECT " + columnList("", organizationColumns) + " FROM organizations WHERE id IN ? ORDER BY id FOR UPDATE"
	var out []billing.Organization
	err := queryRows(ctx, s.db, "lock organizations", query, []any{ids}, func(rows *sql.Rows) error {
		var r organizationRow
		err := rows.Scan(r.fields()...)
		out = append(out, toOrganization(r))
		return err
	})
	return out, err
}

// EntitlementInputsOf reads, in one statement, the stored entitlements of
// orgIDs and the subscriptions that belong to them or whose id is among
// subIDs.
func (s *Store) EntitlementInputsOf(ctx context.Context, orgIDs, subIDs []string) ([]billing.SubscriptionState, []billing.Entitlement, error) {
	if len(orgIDs) == 0 {
		return nil, nil, nil
	}
	if len(subIDs) == 0 {
		subIDs = []string{""} // no subscription has the empty id; IN () is not SQL
	}
	var subs []billing.SubscriptionState
	var ents []billing.Entitlement
	err := queryRows(ctx, s.db, "subscriptions and entitlements of organizations", entitlementInputsOfSQL,
		[]any{orgIDs, orgIDs, subIDs}, func(rows *sql.Rows) error {
			sub, ent, err := scanEntitlementInput(rows)
			switch {
			case ent != nil:
				ents = append(ents, *ent)
			case err == nil:
				subs = append(subs, sub)
			}
			return err
		})
	return subs, ents, err
}

// entitlementInputsOfSQL is entitlementInputsSQL for many orgs.
var entitlementInputsOfSQL = strings.NewReplacer("WHERE org_id = ?", "WHERE org_id IN ?").
	Replace(strings.TrimSuffix(entitlementInputsSQL, "\nORDER BY 1, 2")) + " OR id IN ?\nORDER BY 1, 2"

// SaveSubscriptions inserts or replaces each subscription, in one
// statement; ids must not repeat.
func (s *Store) SaveSubscriptions(ctx context.Context, states []billing.SubscriptionState) error {
	if len(states) == 0 {
		return nil
	}
	args := make([]any, 0, len(subscriptionColumns)*len(states))
	for _, st := range states {
		args = append(args, fromSubscriptionState(st).values()...)
	}
	_, err := exec(ctx, s.db, "save subscriptions", replaceSubscription.rows(len(states)), args...)
	return err
}

// SaveEntitlements inserts or replaces each entitlement, in one statement;
// orgs must not repeat.
func (s *Store) SaveEntitlements(ctx context.Context, ents []billing.Entitlement) error {
	if len(ents) == 0 {
		return nil
	}
	args := make([]any, 0, len(entitlementColumns)*len(ents))
	for _, e := range ents {
		args = append(args, fromEntitlement(e).values()...)
	}
	_, err := exec(ctx, s.db, "save entitlements", replaceEntitlement.rows(len(ents)), args...)
	return err
}

// rowsOf is n rows of width placeholders each: "(?, ?), (?, ?)".
func rowsOf(n, width int) string {
	row := "(?" + strings.Repeat(", ?", width-1) + ")"
	return row + strings.Repeat(", "+row, n-1)
}
