package billing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

func TestPayments(t *testing.T) {
	ctx := context.Background()

	t.Run("EmptyHistoryIsAnEmptyList", func(t *testing.T) {
		e := newSQLiteEnv(t)
		page := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 20})
		if page.Items == nil || len(page.Items) != 0 || page.HasMore {
			t.Fatalf("page = %+v, want an empty, non-nil list and no more", page)
		}
	})

	t.Run("PagesWalkTheWholeHistoryNewestFirstOnce", func(t *testing.T) {
		storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
			e := withOrgs(t, st)
			// Two invoices share their created second; org_b's are interleaved in time.
			for i, created := range []time.Time{t0, t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(3 * time.Hour)} {
				e.handle(t, invoicePaid(fmt.Sprintf("in_a%d", i), "org_a", 1000, created))
				e.handle(t, invoicePaid(fmt.Sprintf("in_b%d", i), "org_b", 1000, created.Add(time.Minute)))
			}
			want := []string{"in_a4", "in_a3", "in_a2", "in_a1", "in_a0"}

			var walked []string
			q := billing.PaymentsQuery{OrgID: "org_a", Limit: 2}
			for range len(want) { // bounded: a cursor that does not advance fails
				page := e.paymentHistory(t, q)
				walked = append(walked, viewedIDs(page.Items)...)
				if !page.HasMore {
					break
				}
				q.StartingAfter = page.Items[len(page.Items)-1].InvoiceID
			}
			if strings.Join(walked, ",") != strings.Join(want, ",") {
				t.Fatalf("walked %v, want %v", walked, want)
			}
		})
	})

	t.Run("AmountIsWhatWasPaidOrDue", func(t *testing.T) {
		e := withOrgs(t, storetest.OpenSQLite(t))
		paid := invoicePaid("in_paid", "org_a", 2000, t0)
		paid.Invoice.AmountPaid = 1500 // a credit covered the rest
		e.handle(t, paid)
		e.handle(t, invoiceFailed("in_failed", "org_a", 3000, t0.Add(time.Hour)))

		got := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 20}).Items
		want := []billing.PaymentView{
			{InvoiceID: "in_failed", Amount: 3000, Currency: "eur", Status: billing.PaymentFailed, HostedInvoiceURL: "https://invoice.example/in_failed", CreatedAt: t0.Add(time.Hour)},
			{InvoiceID: "in_paid", Amount: 1500, Currency: "eur", Status: billing.PaymentPaid, HostedInvoiceURL: "https://invoice.example/in_paid", CreatedAt: t0},
		}
		assertPayments(t, got, want)
	})

	t.Run("FailedThenPaidShowsOnceAsPaid", func(t *testing.T) {
		e := withOrgs(t, storetest.OpenSQLite(t))
		e.handle(t, invoiceFailed("in_1", "org_a", 1000, t0))
		retried := invoicePaid("in_1", "org_a", 1000, t0)
		retried.Created = t0.Add(24 * time.Hour) // Stripe's retry succeeded a day later
		e.handle(t, retried)

		got := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 20}).Items
		assertPayments(t, got, []billing.PaymentView{
			{InvoiceID: "in_1", Amount: 1000, Currency: "eur", Status: billing.PaymentPaid, HostedInvoiceURL: "https://invoice.example/in_1", CreatedAt: t0},
		})
	})

	t.Run("UnpaidInvoicesAreNotHistory", func(t *testing.T) {
		e := withOrgs(t, storetest.OpenSQLite(t))
		e.saveOpenInvoice(t, "in_open", "org_a")
		if got := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 20}).Items; len(got) != 0 {
			t.Fatalf("items = %+v, want none", got)
		}
	})

	t.Run("LimitBelowOneIsOne", func(t *testing.T) {
		e := withOrgs(t, storetest.OpenSQLite(t))
		e.handle(t, invoicePaid("in_1", "org_a", 1000, t0))
		e.handle(t, invoicePaid("in_2", "org_a", 1000, t0.Add(time.Hour)))
		page := e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 0})
		if len(page.Items) != 1 || page.Items[0].InvoiceID != "in_2" || !page.HasMore {
			t.Fatalf("page = %+v, want in_2 and more", page)
		}
	})

	t.Run("CursorOutsideTheOrgsHistoryIsBadRequest", func(t *testing.T) {
		e := withOrgs(t, storetest.OpenSQLite(t))
		e.handle(t, invoicePaid("in_a", "org_a", 1000, t0))
		e.handle(t, invoicePaid("in_b", "org_b", 9999, t0.Add(time.Hour)))
		e.saveOpenInvoice(t, "in_a_open", "org_a")

		var messages []string
		for _, cursor := range []string{"in_b", "in_unknown", "in_a_open"} {
			_, err := e.svc.Payments(ctx, billing.PaymentsQuery{OrgID: "org_a", Limit: 20, StartingAfter: cursor})
			wantCode(t, err, billing.EBadRequest)
			messages = append(messages, billing.ErrorMessage(err))
		}
		if !strings.Contains(messages[0], "starting_after") {
			t.Fatalf("message %q does not name starting_after", messages[0])
		}
		if messages[0] != messages[1] || messages[0] != messages[2] {
			t.Fatalf("messages %q differ: another org's invoice must look unknown", messages)
		}
		if got := viewedIDs(e.paymentHistory(t, billing.PaymentsQuery{OrgID: "org_a", Limit: 20}).Items); len(got) != 1 || got[0] != "in_a" {
			t.Fatalf("org_a sees %v, want only in_a", got)
		}
	})
}

// withOrgs is an env on st in which org_a and org_b exist: invoice events
// apply only to orgs billingd knows.
func withOrgs(tb testing.TB, st billing.Store) *env {
	tb.Helper()
	e := newEnv(tb, st)
	e.ensureOrg(tb, "org_a")
	e.ensureOrg(tb, "org_b")
	return e
}

// paymentHistory lists a page of payment history, failing the test on an error.
func (e *env) paymentHistory(tb testing.TB, q billing.PaymentsQuery) billing.PaymentsPage {
	tb.Helper()
	page, err := e.svc.Payments(context.Background(), q)
	if err != nil {
		tb.Fatalf("Payments(%+v): %v", q, err)
	}
	return page
}

// saveOpenInvoice stores a payment that is neither paid nor failed, as an
// invoice event whose payload says the invoice is still open would.
func (e *env) saveOpenInvoice(tb testing.TB, invoiceID, org string) {
	tb.Helper()
	err := e.store.SavePayment(context.Background(), billing.Payment{
		InvoiceID: invoiceID, OrgID: org, AmountDue: 1000, Currency: "eur", Status: "open", EventCreated: t0, CreatedAt: t0,
	})
	if err != nil {
		tb.Fatalf("save open invoice: %v", err)
	}
}

// invoicePaid is an invoice.paid event for org's invoice, created at Stripe at
// created and delivered a minute later.
func invoicePaid(invoiceID, org string, amount int64, created time.Time) billing.Event {
	return invoiceEvent(billing.EventInvoicePaid, invoiceID, org, "paid", amount, amount, created)
}

// invoiceFailed is an invoice.payment_failed event: the invoice stays open
// with nothing paid.
func invoiceFailed(invoiceID, org string, amountDue int64, created time.Time) billing.Event {
	return invoiceEvent(billing.EventInvoicePaymentFailed, invoiceID, org, "open", amountDue, 0, created)
}

func invoiceEvent(typ, invoiceID, org, status string, due, paid int64, created time.Time) billing.Event {
	return billing.Event{ID: "evt_" + typ + "_" + invoiceID, Type: typ, Created: created.Add(time.Minute), Invoice: &billing.InvoiceObject{
		ID: invoiceID, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, OrgID: org, AmountDue: due, AmountPaid: paid,
		Currency: "eur", Status: status, HostedInvoiceURL: "https://invoice.example/" + invoiceID, Created: created,
	}}
}

func viewedIDs(items []billing.PaymentView) []string {
	ids := make([]string, len(items))
	for i, p := range items {
		ids[i] = p.InvoiceID
	}
	return ids
}

func assertPayments(tb testing.TB, got, want []billing.PaymentView) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("items = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.CreatedAt.Equal(w.CreatedAt) {
			tb.Fatalf("item %d created at %v, want %v (the invoice's creation at Stripe)", i, g.CreatedAt, w.CreatedAt)
		}
		g.CreatedAt = w.CreatedAt
		if g != w {
			tb.Fatalf("item %d = %+v, want %+v", i, g, w)
		}
	}
}
