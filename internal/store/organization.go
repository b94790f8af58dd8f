package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/billingd/billingd/internal/billing"
)

type organizationRow struct {
	ID           string `gorm:"primaryKey"`
	BillingEmail string
	// StripeCustomerID is NULL until the first checkout: the column is UNIQUE,
	// and NULLs do not collide.
	StripeCustomerID *string
	CreatedAt        time.Time
	UpdatedAt        time.Time `gorm:"autoUpdateTime:false"`
}

func (organizationRow) TableName() string { return "organizations" }

func toOrganization(r organizationRow) billing.Organization {
	o := billing.Organization{
		ID:           r.ID,
		BillingEmail: r.BillingEmail,
		CreatedAt:    r.CreatedAt.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
	if r.StripeCustomerID != nil {
		o.StripeCustomerID = *r.StripeCustomerID
	}
	return o
}

func fromOrganization(o billing.Organization) organizationRow {
	r := organizationRow{
		ID:           o.ID,
		BillingEmail: o.BillingEmail,
		CreatedAt:    storedTimeOr(o.CreatedAt),
		UpdatedAt:    storedTimeOr(o.UpdatedAt),
	}
	if o.StripeCustomerID != "" {
		r.StripeCustomerID = &o.StripeCustomerID
	}
	return r
}

// organizationColumns are organizationRow's columns, in the order of its fields.
var organizationColumns = []string{"id", "billing_email", "stripe_customer_id", "created_at", "updated_at"}

func (r *organizationRow) fields() []any {
	return []any{&r.ID, &r.BillingEmail, &r.StripeCustomerID, &r.CreatedAt, &r.UpdatedAt}
}

var selectOrganizationSQL = "SELECT " + columnList("", organizationColumns) + " FROM organizations WHERE id = ?"

// Organization returns the org with id, or billing.ErrNotFound.
func (s *Store) Organization(ctx context.Context, id string) (billing.Organization, error) {
	return s.readOrganization(ctx, "organization", selectOrganizationSQL, id)
}

func (s *Store) readOrganization(ctx context.Context, what, query, id string) (billing.Organization, error) {
	var row organizationRow
	err := queryRow(ctx, s.db, what, query, []any{id}, func(rows *sql.Rows) error { return rows.Scan(row.fields()...) })
	if err != nil {
		return billing.Organization{}, err
	}
	return toOrganization(row), nil
}

// OrganizationByCustomer returns the org whose Stripe Customer is customerID,
// or billing.ErrNotFound.
func (s *Store) OrganizationByCustomer(ctx context.Context, customerID string) (billing.Organization, error) {
	if customerID == "" {
		return billing.Organization{}, fmt.Errorf("store: organization by customer: %w", billing.ErrNotFound)
	}
	row, err := take[organizationRow](ctx, s.db, "organization by customer",
		map[string]any{"stripe_customer_id": customerID})
	if err != nil {
		return billing.Organization{}, err
	}
	return toOrganization(row), nil
}

// EnsureOrganization inserts org unless a row with its id exists, and returns
// the stored row either way; an existing row is never modified.
func (s *Store) EnsureOrganization(ctx context.Context, org billing.Organization) (billing.Organization, error) {
	if org.ID == "" {
		return billing.Organization{}, errors.New("store: ensure organization: empty id")
	}
	row := fromOrganization(org)
	err := s.db.WithContext(ctx).
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).
		Create(&row).Error
	if err != nil {
		return billing.Organization{}, dbError("ensure organization", err)
	}
	return s.Organization(ctx, org.ID)
}

// LockOrganization returns the org with id, or billing.ErrNotFound. Inside InTx
// it also locks the row until the transaction ends: SELECT … FOR UPDATE on
// PostgreSQL. SQLite has no row locks and needs none: its write transactions
// already run one at a time (one connection for :memory:, BEGIN IMMEDIATE for
// files).
func (s *Store) LockOrganization(ctx context.Context, id string) (billing.Organization, error) {
	return s.readOrganization(ctx, "lock organization", s.forUpdate(selectOrganizationSQL), id)
}

// SetCustomerID stores customerID on the org only if it has none yet and returns
// the stored row, whose StripeCustomerID is the winner of any race. The
// conditional UPDATE is atomic on both databases: on PostgreSQL a concurrent
// update waits for the first to commit, then re-checks the NULL condition.
// A customerID already linked to another org violates the UNIQUE column and is
// an error; inside InTx on PostgreSQL that also aborts the transaction.
func (s *Store) SetCustomerID(ctx context.Context, orgID, customerID string) (billing.Organization, error) {
	if customerID == "" {
		return billing.Organization{}, errors.New("store: set customer id: empty customer id")
	}
	err := s.db.WithContext(ctx).Model(&organizationRow{}).
		Where("id = ? AND stripe_customer_id IS NULL", orgID).
		Updates(map[string]any{"stripe_customer_id": customerID, "updated_at": now()}).Error
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return billing.Organization{}, fmt.Errorf("store: set customer id: customer is already linked to another organization: %w", err)
		}
		return billing.Organization{}, dbError("set customer id", err)
	}
	return s.Organization(ctx, orgID)
}
