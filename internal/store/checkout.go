package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

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

// SaveCheckoutSession inserts or replaces a session. CreatedAt is set on the
// first insert (now, when zero) and kept by later saves; a zero UpdatedAt is
// stored as now.
func (s *Store) SaveCheckoutSession(ctx context.Context, cs billing.CheckoutSession) error {
	row := fromCheckoutSession(cs)
	return upsert(ctx, s, "save checkout session", &row)
}

// CheckoutState reads what a checkout for orgID decides on in one query: a
// checkout of an org with a Customer then costs this read, the Stripe call and
// the write of its session. Rows that do not exist are left zero.
func (s *Store) CheckoutState(ctx context.Context, orgID, idempotencyKey string, at time.Time) (billing.CheckoutState, error) {
	query, err := checkoutStateQuery(s.db)
	if err != nil {
		return billing.CheckoutState{}, err
	}
	var row checkoutStateRow
	err = s.db.WithContext(ctx).
		Raw(query, orgID, string(billing.CheckoutOpen), storedTime(at), idempotencyKey).
		Take(&row).Error
	if err != nil {
		return billing.CheckoutState{}, dbError("checkout state", err)
	}
	return row.toCheckoutState(), nil
}

// checkoutStateRow is one row of checkoutStateQuery: each table's columns
// under a prefix of its own, NULL where the row does not exist.
type checkoutStateRow struct {
	Org             organizationRow    `gorm:"embedded;embeddedPrefix:org_"`
	Entitlement     entitlementRow     `gorm:"embedded;embeddedPrefix:ent_"`
	Open            checkoutSessionRow `gorm:"embedded;embeddedPrefix:open_"`
	Idempotent      idempotencyKeyRow  `gorm:"embedded;embeddedPrefix:key_"`
	LatestSessionID *string
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
	if r.LatestSessionID != nil {
		st.LatestSessionID = *r.LatestSessionID
	}
	return st
}

// checkoutStateQueries caches checkoutStateQuery by dialect.
var checkoutStateQueries sync.Map // dialect name → string

// checkoutStateQuery is the SQL of CheckoutState: a one-row seed, LEFT JOINed
// to the org's rows. Its select lists come from the row types, so that a column
// added to one is read here too.
func checkoutStateQuery(db *gorm.DB) (string, error) {
	dialect := db.Dialector.Name()
	if q, ok := checkoutStateQueries.Load(dialect); ok {
		return q.(string), nil
	}
	stmt := &gorm.Statement{DB: db}
	var lists []string
	for _, t := range []struct {
		model         any
		alias, prefix string
	}{
		{&organizationRow{}, "o", "org_"},
		{&entitlementRow{}, "e", "ent_"},
		{&checkoutSessionRow{}, "s", "open_"},
		{&idempotencyKeyRow{}, "k", "key_"},
	} {
		if err := stmt.Parse(t.model); err != nil {
			return "", fmt.Errorf("store: checkout state: %w", err)
		}
		for _, name := range stmt.Schema.DBNames {
			lists = append(lists, stmt.Quote(clause.Column{Table: t.alias, Name: name, Alias: t.prefix + name}))
		}
	}
	// Its parameters, in order: the org id, CheckoutOpen, the time, the key.
	q := "SELECT " + strings.Join(lists, ", ") +
		", (SELECT id FROM checkout_sessions WHERE org_id = q.org_id ORDER BY " + newestSessionFirst + " LIMIT 1) AS latest_session_id" +
		" FROM (SELECT CAST(? AS TEXT) AS org_id) q" +
		" LEFT JOIN organizations o ON o.id = q.org_id" +
		" LEFT JOIN entitlements e ON e.org_id = q.org_id" +
		" LEFT JOIN checkout_sessions s ON s.id = (SELECT id FROM checkout_sessions WHERE org_id = q.org_id AND " + sessionIsOpen +
		" ORDER BY " + newestSessionFirst + " LIMIT 1)" +
		" LEFT JOIN idempotency_keys k ON k.org_id = q.org_id AND k." + stmt.Quote("key") + " = ?"
	checkoutStateQueries.Store(dialect, q)
	return q, nil
}
