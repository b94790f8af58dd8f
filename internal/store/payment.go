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
	CreatedAt        time.Time
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

// SavePayment inserts or replaces a payment by invoice id. CreatedAt is set on
// the first insert (now, when zero) and kept by later saves.
func (s *Store) SavePayment(ctx context.Context, p billing.Payment) error {
	row := fromPayment(p)
	return upsert(ctx, s, "save payment", &row)
}
