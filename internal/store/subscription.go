package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

type subscriptionRow struct {
	ID                string `gorm:"primaryKey"`
	OrgID             string
	CustomerID        string
	Status            string
	Plan              string
	PriceID           string
	LookupKey         string
	Interval          string
	Quantity          int
	TrialEnd          *time.Time
	CurrentPeriodEnd  *time.Time
	CancelAtPeriodEnd bool
	CancelAt          *time.Time
	EventCreated      time.Time
	UpdatedAt         time.Time `gorm:"autoUpdateTime:false"`
}

func (subscriptionRow) TableName() string { return "subscriptions" }

// toSubscriptionState returns the stored state. The row keeps only the org
// the subscription was resolved to, not its metadata, and only the status
// billing mapped (not Stripe's raw one).
func toSubscriptionState(r subscriptionRow) billing.SubscriptionState {
	return billing.SubscriptionState{
		Subscription: billing.Subscription{
			ID:                r.ID,
			CustomerID:        r.CustomerID,
			Status:            billing.Status(r.Status),
			PriceID:           r.PriceID,
			LookupKey:         r.LookupKey,
			Interval:          billing.Interval(r.Interval),
			Quantity:          r.Quantity,
			TrialEnd:          loadedTimePtr(r.TrialEnd),
			CurrentPeriodEnd:  loadedTimePtr(r.CurrentPeriodEnd),
			CancelAtPeriodEnd: r.CancelAtPeriodEnd,
			CancelAt:          loadedTimePtr(r.CancelAt),
		},
		OrgID:        r.OrgID,
		Plan:         r.Plan,
		EventCreated: r.EventCreated.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
}

func fromSubscriptionState(s billing.SubscriptionState) subscriptionRow {
	return subscriptionRow{
		ID:                s.ID,
		OrgID:             s.OrgID,
		CustomerID:        s.CustomerID,
		Status:            string(s.Status),
		Plan:              s.Plan,
		PriceID:           s.PriceID,
		LookupKey:         s.LookupKey,
		Interval:          string(s.Interval),
		Quantity:          s.Quantity,
		TrialEnd:          storedTimePtr(s.TrialEnd),
		CurrentPeriodEnd:  storedTimePtr(s.CurrentPeriodEnd),
		CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		CancelAt:          storedTimePtr(s.CancelAt),
		EventCreated:      storedTime(s.EventCreated),
		UpdatedAt:         storedTimeOr(s.UpdatedAt),
	}
}

// subscriptionColumns are subscriptionRow's columns, in the order of its
// fields (see fields).
var subscriptionColumns = []string{"id", "org_id", "customer_id", "status", "plan", "price_id", "lookup_key", "interval",
	"quantity", "trial_end", "current_period_end", "cancel_at_period_end", "cancel_at", "event_created", "updated_at"}

// fields are pointers to r's fields, in the order of subscriptionColumns.
func (r *subscriptionRow) fields() []any {
	return []any{&r.ID, &r.OrgID, &r.CustomerID, &r.Status, &r.Plan, &r.PriceID, &r.LookupKey, &r.Interval,
		&r.Quantity, &r.TrialEnd, &r.CurrentPeriodEnd, &r.CancelAtPeriodEnd, &r.CancelAt, &r.EventCreated, &r.UpdatedAt}
}

var (
	selectSubscriptionSQL = "SELECT " + columnList("", subscriptionColumns) + " FROM subscriptions WHERE id = ?"
	replaceSubscription   = replacementOf("subscriptions", subscriptionColumns)
)

// Subscription returns a subscription's stored state, or billing.ErrNotFound.
func (s *Store) Subscription(ctx context.Context, id string) (billing.SubscriptionState, error) {
	return s.readSubscription(ctx, "subscription", selectSubscriptionSQL, id)
}

// LockSubscription is Subscription that, inside a transaction, also locks the
// row (SELECT … FOR UPDATE on PostgreSQL; SQLite's single writer needs none).
func (s *Store) LockSubscription(ctx context.Context, id string) (billing.SubscriptionState, error) {
	return s.readSubscription(ctx, "lock subscription", s.forUpdate(selectSubscriptionSQL), id)
}

func (s *Store) readSubscription(ctx context.Context, what, query, id string) (billing.SubscriptionState, error) {
	var row subscriptionRow
	err := queryRow(ctx, s.db, what, query, []any{id}, func(rows *sql.Rows) error { return rows.Scan(row.fields()...) })
	if err != nil {
		return billing.SubscriptionState{}, err
	}
	return toSubscriptionState(row), nil
}

// forUpdate makes query, a read of one table, lock the rows it reads until
// the transaction ends: on PostgreSQL inside a transaction only. SQLite has
// no row locks and needs none: its write transactions run one at a time.
func (s *Store) forUpdate(query string) string {
	if s.inTx && s.pools.dialect == DialectPostgres {
		return query + " FOR UPDATE"
	}
	return query
}

// EntitlementInputs reads the org's entitlement and its subscriptions in one
// statement: the entitlement's row first when there is one, then a row per
// subscription, in the columns the two tables share (see
// entitlementInputsSQL).
func (s *Store) EntitlementInputs(ctx context.Context, orgID string) (billing.EntitlementInputs, error) {
	var in billing.EntitlementInputs
	err := queryRows(ctx, s.db, "subscriptions and entitlement of organization", entitlementInputsSQL, []any{orgID, orgID},
		func(rows *sql.Rows) error {
			sub, ent, err := scanEntitlementInput(rows)
			switch {
			case ent != nil:
				in.Entitlement = ent
			case err == nil:
				in.Subscriptions = append(in.Subscriptions, sub)
			}
			return err
		})
	if err != nil {
		return billing.EntitlementInputs{}, err
	}
	return in, nil
}

// scanEntitlementInput reads a row of entitlementInputsSQL: a subscription,
// or an entitlement (ent set).
func scanEntitlementInput(rows *sql.Rows) (sub billing.SubscriptionState, ent *billing.Entitlement, err error) {
	var kind int
	var r subscriptionRow
	var version int64
	if err := rows.Scan(append(append([]any{&kind}, r.fields()...), &version)...); err != nil {
		return sub, nil, err
	}
	if kind == 1 {
		return toSubscriptionState(r), nil, nil
	}
	e := toEntitlement(entitlementRow{
		OrgID: r.OrgID, Plan: r.Plan, Status: r.Status, SubscriptionID: r.CustomerID, PriceID: r.PriceID,
		Interval: r.Interval, Seats: r.Quantity, TrialEnd: r.TrialEnd, CurrentPeriodEnd: r.CurrentPeriodEnd,
		CancelAtPeriodEnd: r.CancelAtPeriodEnd, CancelAt: r.CancelAt, EventCreated: r.EventCreated,
		UpdatedAt: r.UpdatedAt, Version: version,
	})
	return sub, &e, nil
}

// entitlementInputsSQL lists an org's entitlement (kind 0) and its
// subscriptions (kind 1, by id), each row a kind, subscriptionColumns and a
// version. An entitlement stands in them with its org_id as id,
// subscription_id as customer_id, no lookup_key and seats as quantity. So
// the entitlement is read once, not beside every subscription (a join's
// rows), which on SQLite this process decodes, times and all.
var entitlementInputsSQL = `SELECT 0, org_id, org_id, subscription_id, status, plan, price_id, '', "interval", seats,
	trial_end, current_period_end, cancel_at_period_end, cancel_at, event_created, updated_at, version
FROM entitlements WHERE org_id = ?
UNION ALL
SELECT 1, ` + columnList("", subscriptionColumns) + `, 0 FROM subscriptions WHERE org_id = ?
ORDER BY 1, 2`

// SaveSubscription inserts or replaces a subscription's state. A zero UpdatedAt
// is stored as now.
func (s *Store) SaveSubscription(ctx context.Context, st billing.SubscriptionState) error {
	row := fromSubscriptionState(st)
	return s.replace(ctx, "save subscription", replaceSubscription, row.values()...)
}

// values are r's fields, in the order of subscriptionColumns.
func (r subscriptionRow) values() []any {
	return []any{r.ID, r.OrgID, r.CustomerID, r.Status, r.Plan, r.PriceID, r.LookupKey, r.Interval,
		r.Quantity, r.TrialEnd, r.CurrentPeriodEnd, r.CancelAtPeriodEnd, r.CancelAt, r.EventCreated, r.UpdatedAt}
}
