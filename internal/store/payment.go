package store

import (
	"context"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

type paymentRow struct {
	InvoiceID        string `gorm:"primaryKey"`
	OrgID            string
	SubscriptionID   string
	AmountDue        int64
	AmountPaid       int64
	Currency         string
	Status           string
	HostedInvoiceURL string
	EventCreated     time.Time
	// CreatedAt is the invoice's, at Stripe: written as given, not kept from
	// the first save as GORM would keep a row's own creation time.
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (paymentRow) TableName() string { return "payments" }

func toPayment(r paymentRow) billing.Payment {
	return billing.Payment{
		InvoiceID:        r.InvoiceID,
		OrgID:            r.OrgID,
		SubscriptionID:   r.SubscriptionID,
		AmountDue:        r.AmountDue,
		AmountPaid:       r.AmountPaid,
		Currency:         r.Currency,
		Status:           r.Status,
		HostedInvoiceURL: r.HostedInvoiceURL,
		EventCreated:     r.EventCreated.UTC(),
		CreatedAt:        r.CreatedAt.UTC(),
	}
}

func fromPayment(p billing.Payment) paymentRow {
	return paymentRow{
		InvoiceID:        p.InvoiceID,
		OrgID:            p.OrgID,
		SubscriptionID:   p.SubscriptionID,
		AmountDue:        p.AmountDue,
		AmountPaid:       p.AmountPaid,
		Currency:         p.Currency,
		Status:           p.Status,
		HostedInvoiceURL: p.HostedInvoiceURL,
		EventCreated:     storedTime(p.EventCreated),
		CreatedAt:        storedTimeOr(p.CreatedAt),
	}
}

// Payment returns the payment of an invoice, or billing.ErrNotFound.
func (s *Store) Payment(ctx context.Context, invoiceID string) (billing.Payment, error) {
	row, err := take[paymentRow](ctx, s.db, "payment", map[string]any{"invoice_id": invoiceID})
	if err != nil {
		return billing.Payment{}, err
	}
	return toPayment(row), nil
}

// PaymentsByOrg returns up to q.Limit payments of q.OrgID whose Status is one
// of q.Statuses, newest first (created_at, then invoice_id, both descending),
// and with q.After set only those that sort after it. The row comparison and
// the order match the payments_org_id_created_at_invoice_id_idx index, so a
// page is one index range scan on both databases. SQLite compares the times as
// the UTC text the store writes, which sorts like the times themselves.
func (s *Store) PaymentsByOrg(ctx context.Context, q billing.PaymentListQuery) ([]billing.Payment, error) {
	db := s.db.WithContext(ctx).Where("org_id = ? AND status IN ?", q.OrgID, q.Statuses)
	if q.After != nil {
		db = db.Where("(created_at, invoice_id) < (?, ?)", storedTime(q.After.CreatedAt), q.After.InvoiceID)
	}
	db = db.Order("created_at DESC, invoice_id DESC").Limit(q.Limit)
	return find(db, "payments by org", toPayment)
}

// SavePayment inserts or replaces a payment by invoice id. CreatedAt is set on
// the first insert (now, when zero) and kept by later saves.
func (s *Store) SavePayment(ctx context.Context, p billing.Payment) error {
	row := fromPayment(p)
	return upsert(ctx, s, "save payment", &row)
}
