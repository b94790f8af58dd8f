package billing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// PaymentStatus is how a payment looks to clients.
type PaymentStatus string

const (
	PaymentPaid   PaymentStatus = "paid"
	PaymentFailed PaymentStatus = "failed"
)

// historyStatuses maps the statuses applyInvoice stores to what clients see.
// A payment stored with any other status (an invoice Stripe reported as open,
// say) is not payment history and is never listed.
var historyStatuses = map[string]PaymentStatus{
	InvoicePaid:          PaymentPaid,
	InvoicePaymentFailed: PaymentFailed,
}

// storedHistoryStatuses are the keys of historyStatuses, as the store filters on them.
var storedHistoryStatuses = slices.Sorted(maps.Keys(historyStatuses))

// PaymentView is one entry of an org's payment history as clients see it.
type PaymentView struct {
	InvoiceID        string
	Amount           int64  // minor units: AmountPaid when paid, AmountDue when failed
	Currency         string // lowercase ISO 4217, as Stripe sends it
	Status           PaymentStatus
	HostedInvoiceURL string    // "" when Stripe gave none
	CreatedAt        time.Time // the invoice's `created` at Stripe, not when billingd received it
}

// PaymentsQuery asks for one page of an org's payment history.
type PaymentsQuery struct {
	OrgID string
	// Limit is the page size. The HTTP layer enforces the contract's range and
	// default; below 1 counts as 1.
	Limit int
	// StartingAfter is the invoice id of the last payment of the previous
	// page; "" for the first page.
	StartingAfter string
}

// PaymentsPage is one page of an org's payment history.
type PaymentsPage struct {
	Items   []PaymentView // newest first
	HasMore bool
}

// PaymentListQuery selects payments for Store.PaymentsByOrg.
type PaymentListQuery struct {
	OrgID    string
	Statuses []string
	After    *PaymentCursor // nil: from the newest
	Limit    int
}

// PaymentCursor is a position in an org's payments, newest first: the sort key
// of the last payment already seen.
type PaymentCursor struct {
	CreatedAt time.Time
	InvoiceID string
}

// Payments lists one page of the org's payment history (paid and failed
// invoices), newest first. A StartingAfter that is not a listed payment of the
// org — unknown, another org's, or an invoice that is neither paid nor failed —
// is EBadRequest, with one message for all three so that another org's invoice
// ids reveal nothing. Payments never writes.
func (s *Service) Payments(ctx context.Context, q PaymentsQuery) (PaymentsPage, error) {
	after, err := s.paymentCursor(ctx, q.OrgID, q.StartingAfter)
	if err != nil {
		return PaymentsPage{}, err
	}
	limit := max(q.Limit, 1)
	// One more than the page tells whether another page follows.
	stored, err := s.store.PaymentsByOrg(ctx, PaymentListQuery{
		OrgID: q.OrgID, Statuses: storedHistoryStatuses, After: after, Limit: limit + 1,
	})
	if err != nil {
		return PaymentsPage{}, fmt.Errorf("list payments: %w", err)
	}
	page := PaymentsPage{HasMore: len(stored) > limit, Items: make([]PaymentView, 0, min(len(stored), limit))}
	for _, p := range stored[:min(len(stored), limit)] {
		page.Items = append(page.Items, paymentView(p))
	}
	return page, nil
}

// paymentCursor resolves a StartingAfter invoice id to its place in orgID's
// history; "" is the start (nil).
func (s *Service) paymentCursor(ctx context.Context, orgID, invoiceID string) (*PaymentCursor, error) {
	if invoiceID == "" {
		return nil, nil
	}
	p, err := s.store.Payment(ctx, invoiceID)
	if errors.Is(err, ErrNotFound) || (err == nil && !inHistoryOf(p, orgID)) {
		return nil, Errorf(EBadRequest, "starting_after is not a payment of this organization")
	}
	if err != nil {
		return nil, fmt.Errorf("load payment cursor: %w", err)
	}
	return &PaymentCursor{CreatedAt: p.CreatedAt, InvoiceID: p.InvoiceID}, nil
}

// inHistoryOf reports whether p is listed in orgID's payment history.
func inHistoryOf(p Payment, orgID string) bool {
	_, listed := historyStatuses[p.Status]
	return listed && p.OrgID == orgID
}

// paymentView is a listed payment as clients see it: a paid invoice shows what
// was paid, a failed one what was due.
func paymentView(p Payment) PaymentView {
	v := PaymentView{
		InvoiceID: p.InvoiceID, Amount: p.AmountDue, Currency: p.Currency, Status: historyStatuses[p.Status],
		HostedInvoiceURL: p.HostedInvoiceURL, CreatedAt: p.CreatedAt,
	}
	if v.Status == PaymentPaid {
		v.Amount = p.AmountPaid
	}
	return v
}

// samePayment reports whether two views of a payment show the same.
func samePayment(a, b PaymentView) bool {
	return a.InvoiceID == b.InvoiceID && a.Amount == b.Amount && a.Currency == b.Currency && a.Status == b.Status &&
		a.HostedInvoiceURL == b.HostedInvoiceURL && a.CreatedAt.Equal(b.CreatedAt)
}
