package store_test

import (
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// TestPaymentsByOrg is the specification of Store.PaymentsByOrg, on a fresh
// database of each kind holding one org's history and payments it must not list.
func TestPaymentsByOrg(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		// Newest first. in_a4 and in_a3 were created at the same time, so the
		// invoice id orders them; in_a1 is one microsecond newer than in_a2, so
		// only a comparison to the microsecond puts it first.
		history := []billing.Payment{
			payment("in_a4", "org_a", "paid", t0.Add(time.Second)),
			payment("in_a3", "org_a", "payment_failed", t0.Add(time.Second)),
			payment("in_a1", "org_a", "paid", t0.Add(time.Microsecond)),
			payment("in_a2", "org_a", "payment_failed", t0),
		}
		// Oldest first, so that insertion order cannot pass for the sort order.
		for i := len(history) - 1; i >= 0; i-- {
			savePayment(t, s, history[i])
		}
		savePayment(t, s, payment("in_a5", "org_a", "open", t0.Add(2*time.Second)))
		savePayment(t, s, payment("in_b1", "org_b", "paid", t0.Add(3*time.Second)))
		listed := []string{"paid", "payment_failed"}
		list := func(t *testing.T, q billing.PaymentListQuery) []string {
			t.Helper()
			return invoiceIDs(listPayments(t, s, q))
		}

		t.Run("NewestFirstTiesByInvoiceID", func(t *testing.T) {
			got := listPayments(t, s, billing.PaymentListQuery{OrgID: "org_a", Statuses: listed, Limit: 10})
			assertEqual(t, got, history)
		})
		t.Run("Limit", func(t *testing.T) {
			got := list(t, billing.PaymentListQuery{OrgID: "org_a", Statuses: listed, Limit: 2})
			assertEqual(t, got, []string{"in_a4", "in_a3"})
		})
		t.Run("AfterWithinATie", func(t *testing.T) {
			got := list(t, billing.PaymentListQuery{OrgID: "org_a", Statuses: listed, After: cursorOf(history[0]), Limit: 10})
			assertEqual(t, got, []string{"in_a3", "in_a1", "in_a2"})
		})
		t.Run("AfterComparesToTheMicrosecond", func(t *testing.T) {
			got := list(t, billing.PaymentListQuery{OrgID: "org_a", Statuses: listed, After: cursorOf(history[2]), Limit: 10})
			assertEqual(t, got, []string{"in_a2"})
		})
		t.Run("PagesWalkTheWholeHistoryOnce", func(t *testing.T) {
			var walked []string
			q := billing.PaymentListQuery{OrgID: "org_a", Statuses: listed, Limit: 1}
			// Bounded, so that a cursor that does not advance fails instead of hanging.
			for range len(history) + 1 {
				page := listPayments(t, s, q)
				if len(page) == 0 {
					break
				}
				walked = append(walked, invoiceIDs(page)...)
				q.After = cursorOf(page[len(page)-1])
			}
			assertEqual(t, walked, invoiceIDs(history))
		})
		t.Run("OnlyTheGivenStatuses", func(t *testing.T) {
			assertEqual(t, list(t, billing.PaymentListQuery{OrgID: "org_a", Statuses: []string{"paid"}, Limit: 10}), []string{"in_a4", "in_a1"})
			assertEqual(t, list(t, billing.PaymentListQuery{OrgID: "org_a", Statuses: []string{"open"}, Limit: 10}), []string{"in_a5"})
			assertEqual(t, list(t, billing.PaymentListQuery{OrgID: "org_a", Limit: 10}), []string{})
		})
		t.Run("OnlyTheOrgsOwn", func(t *testing.T) {
			assertEqual(t, list(t, billing.PaymentListQuery{OrgID: "org_b", Statuses: listed, Limit: 10}), []string{"in_b1"})
			assertEqual(t, list(t, billing.PaymentListQuery{OrgID: "org_none", Statuses: listed, Limit: 10}), []string{})
		})
	})
}

func payment(invoiceID, orgID, status string, created time.Time) billing.Payment {
	return billing.Payment{
		InvoiceID: invoiceID, OrgID: orgID, SubscriptionID: "sub_" + orgID, AmountDue: 1500, AmountPaid: 1500,
		Currency: "usd", Status: status, HostedInvoiceURL: "https://invoice.example/" + invoiceID,
		EventCreated: created.Add(time.Minute), CreatedAt: created,
	}
}

func savePayment(t *testing.T, s *store.Store, p billing.Payment) {
	t.Helper()
	if err := s.SavePayment(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

func listPayments(t *testing.T, s *store.Store, q billing.PaymentListQuery) []billing.Payment {
	t.Helper()
	got, err := s.PaymentsByOrg(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func cursorOf(p billing.Payment) *billing.PaymentCursor {
	return &billing.PaymentCursor{CreatedAt: p.CreatedAt, InvoiceID: p.InvoiceID}
}

func invoiceIDs(ps []billing.Payment) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.InvoiceID
	}
	return ids
}

func testPayments(t *testing.T, s *store.Store) {
	t.Run("Payment/ErrNotFound", func(t *testing.T) {
		_, err := s.Payment(t.Context(), "in_missing")
		assertNotFound(t, err)
	})
	t.Run("SavePayment/InsertsAndReplaces", func(t *testing.T) {
		want := billing.Payment{
			InvoiceID: uniqueID(t, "in"), OrgID: "org_1", SubscriptionID: "sub_1",
			AmountDue: 1_999_999_999_999, AmountPaid: 0, Currency: "eur", Status: "open",
			HostedInvoiceURL: "https://invoice.example/1", EventCreated: t0, CreatedAt: t0.Add(-time.Minute),
		}
		if err := s.SavePayment(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Payment(t.Context(), want.InvoiceID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)

		want.AmountPaid, want.Status, want.EventCreated = want.AmountDue, "paid", t0.Add(time.Minute)
		if err := s.SavePayment(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err = s.Payment(t.Context(), want.InvoiceID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
}
