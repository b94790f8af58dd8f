package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

type checkoutSessionRow struct {
	ID             string `gorm:"primaryKey"`
	OrgID          string
	Plan           string
	Interval       string
	PriceID        string
	Quantity       int
	Status         string
	URL            string
	ExpiresAt      time.Time
	SubscriptionID string
	CustomerID     string
	CreatedBy      string
	RequestHash    string
	CreatedAt      time.Time
	UpdatedAt      time.Time `gorm:"autoUpdateTime:false"`
}

func (checkoutSessionRow) TableName() string { return "checkout_sessions" }

func toCheckoutSession(r checkoutSessionRow) billing.CheckoutSession {
	return billing.CheckoutSession{
		ID:             r.ID,
		OrgID:          r.OrgID,
		Plan:           r.Plan,
		Interval:       billing.Interval(r.Interval),
		PriceID:        r.PriceID,
		Quantity:       r.Quantity,
		Status:         billing.CheckoutStatus(r.Status),
		URL:            r.URL,
		ExpiresAt:      r.ExpiresAt.UTC(),
		SubscriptionID: r.SubscriptionID,
		CustomerID:     r.CustomerID,
		CreatedBy:      r.CreatedBy,
		RequestHash:    r.RequestHash,
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
	}
}

func fromCheckoutSession(cs billing.CheckoutSession) checkoutSessionRow {
	return checkoutSessionRow{
		ID:             cs.ID,
		OrgID:          cs.OrgID,
		Plan:           cs.Plan,
		Interval:       string(cs.Interval),
		PriceID:        cs.PriceID,
		Quantity:       cs.Quantity,
		Status:         string(cs.Status),
		URL:            cs.URL,
		ExpiresAt:      storedTime(cs.ExpiresAt),
		SubscriptionID: cs.SubscriptionID,
		CustomerID:     cs.CustomerID,
		CreatedBy:      cs.CreatedBy,
		RequestHash:    cs.RequestHash,
		CreatedAt:      storedTimeOr(cs.CreatedAt),
		UpdatedAt:      storedTimeOr(cs.UpdatedAt),
	}
}

// CheckoutSession returns the session with id, or billing.ErrNotFound.
func (s *Store) CheckoutSession(ctx context.Context, id string) (billing.CheckoutSession, error) {
	row, err := take[checkoutSessionRow](ctx, s.db, "checkout session", map[string]any{"id": id})
	if err != nil {
		return billing.CheckoutSession{}, err
	}
	return toCheckoutSession(row), nil
}

// The rules of "an org's newest session" and "an open session", shared by
// every query that needs them.
const (
	newestSessionFirst = "created_at DESC, id DESC"
	sessionIsOpen      = "status = ? AND expires_at > ?" // CheckoutOpen, the time
)

// checkoutSessionColumns are checkoutSessionRow's columns, in the order of
// its fields.
var checkoutSessionColumns = []string{"id", "org_id", "plan", "interval", "price_id", "quantity", "status", "url",
	"expires_at", "subscription_id", "customer_id", "created_by", "request_hash", "created_at", "updated_at"}

func (r *checkoutSessionRow) fields() []any {
	return []any{&r.ID, &r.OrgID, &r.Plan, &r.Interval, &r.PriceID, &r.Quantity, &r.Status, &r.URL,
		&r.ExpiresAt, &r.SubscriptionID, &r.CustomerID, &r.CreatedBy, &r.RequestHash, &r.CreatedAt, &r.UpdatedAt}
}

func (r checkoutSessionRow) values() []any {
	return []any{r.ID, r.OrgID, r.Plan, r.Interval, r.PriceID, r.Quantity, r.Status, r.URL,
		r.ExpiresAt, r.SubscriptionID, r.CustomerID, r.CreatedBy, r.RequestHash, r.CreatedAt, r.UpdatedAt}
}

// saveCheckoutSessionSQL inserts a session or replaces every column of the
// stored one but its created_at. Written out, not built by GORM: it is the
// write of every checkout, and building it cost more than PostgreSQL's work.
var saveCheckoutSessionSQL = func() string {
	var set []string
	for _, c := range checkoutSessionColumns {
		if c != "id" && c != "created_at" {
			set = append(set, `"`+c+`" = excluded."`+c+`"`)
		}
	}
	return "INSERT INTO checkout_sessions (" + columnList("", checkoutSessionColumns) + ") VALUES (?" +
		strings.Repeat(", ?", len(checkoutSessionColumns)-1) + `) ON CONFLICT ("id") DO UPDATE SET ` + strings.Join(set, ", ")
}()

// SaveCheckoutSession inserts or replaces a session. CreatedAt is set on the
// first insert (now, when zero) and kept by later saves; a zero UpdatedAt is
// stored as now.
func (s *Store) SaveCheckoutSession(ctx context.Context, cs billing.CheckoutSession) error {
	_, err := exec(ctx, s.db, "save checkout session", saveCheckoutSessionSQL, fromCheckoutSession(cs).values()...)
	return err
}

// CheckoutState reads what a checkout for orgID decides on in one query: a
// checkout of an org with a Customer then costs this read, the Stripe call and
// the write of its session. Rows that do not exist are left zero.
func (s *Store) CheckoutState(ctx context.Context, orgID, idempotencyKey string, at time.Time) (billing.CheckoutState, error) {
	var r checkoutStateRow
	args := []any{orgID, string(billing.CheckoutOpen), storedTime(at), idempotencyKey}
	err := queryRow(ctx, s.db, "checkout state", checkoutStateSQL, args, func(rows *sql.Rows) error {
		fields, err := orZero(r.fields())
		if err != nil {
			return err
		}
		return rows.Scan(fields...)
	})
	if err != nil {
		return billing.CheckoutState{}, err
	}
	return r.toCheckoutState(), nil
}

// checkoutStateRow is the row of checkoutStateSQL: each table's row, zero
// where the outer join found none.
type checkoutStateRow struct {
	Org             organizationRow
	Entitlement     entitlementRow
	Open            checkoutSessionRow
	Idempotent      idempotencyKeyRow
	LatestSessionID string
}

func (r *checkoutStateRow) fields() []any {
	f := make([]any, 0, 40) // every column of checkoutStateSQL
	f = append(f, r.Org.fields()...)
	f = append(f, r.Entitlement.fields()...)
	f = append(f, r.Open.fields()...)
	return append(append(f, r.Idempotent.fields()...), &r.LatestSessionID)
}

func (r checkoutStateRow) toCheckoutState() billing.CheckoutState {
	var st billing.CheckoutState
	if r.Org.ID != "" {
		st.Org = toOrganization(r.Org)
	}
	if r.Entitlement.OrgID != "" {
		e := toEntitlement(r.Entitlement)
		st.Entitlement = &e
	}
	if r.Open.ID != "" {
		cs := toCheckoutSession(r.Open)
		st.OpenSession = &cs
	}
	if r.Idempotent.OrgID != "" {
		ir := toIdempotentResponse(r.Idempotent)
		st.Idempotent = &ir
	}
	st.LatestSessionID = r.LatestSessionID
	return st
}

// checkoutStateSQL is a one-row seed, LEFT JOINed to the org's rows, in the
// columns of each row type. Its parameters, in order: the org id,
// CheckoutOpen, the time, the key.
var checkoutStateSQL = "SELECT " + columnList("o", organizationColumns) + ", " + columnList("e", entitlementColumns) + ", " +
	columnList("s", checkoutSessionColumns) + ", " + columnList("k", idempotencyKeyColumns) +
	", (SELECT id FROM checkout_sessions WHERE org_id = q.org_id ORDER BY " + newestSessionFirst + " LIMIT 1)" +
	" FROM (SELECT CAST(? AS TEXT) AS org_id) q" +
	" LEFT JOIN organizations o ON o.id = q.org_id" +
	" LEFT JOIN entitlements e ON e.org_id = q.org_id" +
	" LEFT JOIN checkout_sessions s ON s.id = (SELECT id FROM checkout_sessions WHERE org_id = q.org_id AND " + sessionIsOpen +
	" ORDER BY " + newestSessionFirst + " LIMIT 1)" +
	` LEFT JOIN idempotency_keys k ON k.org_id = q.org_id AND k."key" = ?`

// orZero wraps fields (pointers) so that a NULL leaves them zero: the
// columns of an outer join that found no row, which the fields' own types
// cannot hold. A type switch, not reflection, which cost more than the rest
// of the scan.
func orZero(fields []any) ([]any, error) {
	out := make([]any, len(fields))
	for i, f := range fields {
		switch p := f.(type) {
		case *string:
			out[i] = nullable[string]{p}
		case *int:
			out[i] = nullable[int]{p}
		case *int64:
			out[i] = nullable[int64]{p}
		case *bool:
			out[i] = nullable[bool]{p}
		case *time.Time:
			out[i] = nullable[time.Time]{p}
		case **string, **time.Time: // NULL is nil already
			out[i] = p
		default:
			return nil, fmt.Errorf("store: cannot scan a NULL into %T", f)
		}
	}
	return out, nil
}

// nullable scans into *p as database/sql would, but leaves it as it is on a NULL.
type nullable[T any] struct{ p *T }

func (n nullable[T]) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		return nil
	case T: // most columns: no conversion, and no allocation
		*n.p = v
		return nil
	}
	var v sql.Null[T]
	if err := v.Scan(src); err != nil {
		return err
	}
	if v.Valid {
		*n.p = v.V
	}
	return nil
}
