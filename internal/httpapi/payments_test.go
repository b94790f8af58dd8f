package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// invoice sends an invoice event of org through the webhook, as Stripe would.
func (ts *testServer) invoice(t *testing.T, typ, org, id string, created time.Time, due, paid int64) {
	t.Helper()
	status := "paid"
	if typ == billing.EventInvoicePaymentFailed {
		status = "open"
	}
	r := ts.postEvent(t, stripeevent.InvoiceEvent(stripeevent.EventSpec{Type: typ, Created: created},
		stripeevent.InvoiceSpec{ID: id, OrgID: org, AmountDue: due, AmountPaid: paid, Status: status, Created: created}))
	if r.status != http.StatusOK || r.data()["outcome"] != "applied" {
		t.Fatalf("%s %s = %d %v, want 200 applied", typ, id, r.status, r.body)
	}
}

func TestPaymentsHTTP(t *testing.T) {
	ts := newTestServer(t)
	ts.subscribe(t, "org_a")
	ts.subscribe(t, "org_b")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 { // in_a00 oldest … in_a24 newest
		ts.invoice(t, billing.EventInvoicePaid, "org_a", fmt.Sprintf("in_a%02d", i), t0.AddDate(0, 0, i), 1900, 1900)
	}
	ts.invoice(t, billing.EventInvoicePaymentFailed, "org_a", "in_a25", t0.AddDate(0, 1, 0), 4900, 0)
	ts.invoice(t, billing.EventInvoicePaid, "org_b", "in_b0", t0, 700, 700)
	alice := token(t, userClaims("org_a"))

	list := func(t *testing.T, bearer, query string) (items []map[string]any, hasMore bool) {
		t.Helper()
		r := ts.do(t, http.MethodGet, "/api/billing/payments"+query, bearer, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET payments%s = %d %s %q", query, r.status, r.errorCode(), r.errorMessage())
		}
		for _, it := range r.data()["items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		return items, r.data()["hasMore"].(bool)
	}

	t.Run("NewestFirstWithTheContractsDefaultPage", func(t *testing.T) {
		items, more := list(t, alice, "")
		if len(items) != 20 || !more {
			t.Fatalf("%d items, hasMore %v; want the default page of 20 and more", len(items), more)
		}
		first := items[0]
		if first["invoiceId"] != "in_a25" || first["status"] != "failed" || first["amount"] != float64(4900) || first["currency"] != "usd" {
			t.Fatalf("first item = %v, want the failed in_a25 for its amount due, 4900 usd", first)
		}
		if got := items[1]; got["invoiceId"] != "in_a24" || got["status"] != "paid" || got["amount"] != float64(1900) ||
			got["createdAt"] != t0.AddDate(0, 0, 24).Format(time.RFC3339) || !strings.HasPrefix(fmt.Sprint(got["hostedInvoiceUrl"]), "https://") {
			t.Fatalf("second item = %v, want paid in_a24 created at Stripe's time", got)
		}
	})
	t.Run("CursorWalksTheWholeHistoryOnce", func(t *testing.T) {
		var seen []string
		query := "?limit=7"
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			items, more := list(t, alice, query)
			for _, it := range items {
				seen = append(seen, it["invoiceId"].(string))
			}
			if !more {
				break
			}
			query = "?limit=7&starting_after=" + seen[len(seen)-1]
		}
		if len(seen) != 26 || seen[0] != "in_a25" || seen[25] != "in_a00" {
			t.Fatalf("walked %d payments %v, want in_a25 … in_a00", len(seen), seen)
		}
		for i := 1; i < 25; i++ {
			if seen[i] <= seen[i+1] {
				t.Fatalf("not newest first at %d: %v", i, seen)
			}
		}
	})
	t.Run("AnotherOrgsDataIsNeverVisible", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/payments?starting_after=in_b0", alice, nil, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(), "starting_after") || strings.Contains(r.errorMessage(), "org_b") {
			t.Fatalf("another org's cursor = %d %q, want 400 naming starting_after only", r.status, r.errorMessage())
		}
		unknown := ts.do(t, http.MethodGet, "/api/billing/payments?starting_after=in_nowhere", alice, nil, nil)
		if unknown.errorMessage() != strings.ReplaceAll(r.errorMessage(), "in_b0", "in_nowhere") {
			t.Fatalf("another org's invoice (%q) reads differently from an unknown one (%q)", r.errorMessage(), unknown.errorMessage())
		}
		if r := ts.do(t, http.MethodGet, "/api/billing/payments?org_id=org_b", alice, nil, nil); r.status != http.StatusForbidden {
			t.Fatalf("user token with another org_id = %d, want 403", r.status)
		}
	})
	t.Run("ServiceTokensNameTheOrg", func(t *testing.T) {
		items, more := list(t, token(t, serviceClaims("svc_finance")), "?org_id=org_b")
		if len(items) != 1 || items[0]["invoiceId"] != "in_b0" || more {
			t.Fatalf("org_b's payments = %v (more %v), want in_b0 alone", items, more)
		}
		if r := ts.do(t, http.MethodGet, "/api/billing/payments", token(t, serviceClaims("svc_finance")), nil, nil); r.status != http.StatusForbidden {
			t.Fatalf("service token without org_id = %d, want 403", r.status)
		}
	})
	t.Run("NoPaymentsIsAnEmptyList", func(t *testing.T) {
		items, more := list(t, token(t, userClaims("org_new")), "")
		if len(items) != 0 || more {
			t.Fatalf("new org's payments = %v (more %v), want none", items, more)
		}
	})
}
