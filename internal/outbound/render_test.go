package outbound_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/outbound"
)

// conforms checks body against a schema of the contract.
func conforms(t *testing.T, schema string, body []byte) map[string]any {
	t.Helper()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := spec.Components.Schemas[schema]
	if !ok {
		t.Fatalf("the contract has no schema %s", schema)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := ref.Value.VisitJSON(doc); err != nil {
		t.Fatalf("body does not conform to %s: %v\n%s", schema, err, body)
	}
	return doc
}

func TestRender_EntitlementChanged(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	end, updated := at.Add(30*24*time.Hour), at.Add(-time.Second)
	view := billing.EntitlementView{
		OrgID: "org_1", Plan: "pro", Status: billing.StatusActive, Active: true, Seats: 3,
		Features: []string{"exports"}, CurrentPeriodEnd: &end, UpdatedAt: &updated, Version: 7,
	}
	body, err := outbound.Render(billing.Message{ID: "msg_1", Type: billing.MessageEntitlementChanged, OrgID: "org_1", At: at, Entitlement: &view})
	if err != nil {
		t.Fatal(err)
	}
	doc := conforms(t, "EntitlementChangedEvent", body)
	if doc["type"] != "entitlement.changed" || doc["timestamp"] != "2026-12-01T09:00:00Z" {
		t.Fatalf("type/timestamp = %v/%v, want entitlement.changed at 2026-12-01T09:00:00Z (RFC 3339, UTC)", doc["type"], doc["timestamp"])
	}
	// data is what GET /api/billing/entitlement answers for the same view.
	got, _ := json.Marshal(doc["data"])
	var fromGet map[string]any
	want, _ := json.Marshal(api.EntitlementOf(view))
	_ = json.Unmarshal(want, &fromGet)
	want, _ = json.Marshal(fromGet)
	if string(got) != string(want) {
		t.Fatalf("data = %s\nwant the GET body's data %s", got, want)
	}
	if strings.Contains(string(body), "checkout") {
		t.Fatalf("body %s has checkout; events never do", body)
	}
}

func TestRender_Payment(t *testing.T) {
	for _, tc := range []struct {
		typ    billing.MessageType
		status billing.PaymentStatus
	}{{billing.MessagePaymentSucceeded, billing.PaymentPaid}, {billing.MessagePaymentFailed, billing.PaymentFailed}} {
		t.Run(string(tc.typ), func(t *testing.T) {
			p := billing.PaymentView{InvoiceID: "in_1", Amount: 1900, Currency: "eur", Status: tc.status, CreatedAt: time.Unix(1_800_000_000, 0)}
			body, err := outbound.Render(billing.Message{ID: "msg_2", Type: tc.typ, OrgID: "org_1", At: time.Unix(1_800_000_100, 0), Payment: &p})
			if err != nil {
				t.Fatal(err)
			}
			doc := conforms(t, "PaymentEvent", body)
			data := doc["data"].(map[string]any)
			if doc["type"] != string(tc.typ) || data["organizationId"] != "org_1" || data["invoiceId"] != "in_1" ||
				data["amount"] != float64(1900) || data["status"] != string(tc.status) || data["hostedInvoiceUrl"] != nil {
				t.Fatalf("body = %s", body)
			}
		})
	}
}

func TestRender_ErrNoData(t *testing.T) {
	for _, msg := range []billing.Message{
		{ID: "msg_3", Type: billing.MessageEntitlementChanged},
		{ID: "msg_4", Type: billing.MessagePaymentFailed},
		{ID: "msg_5", Type: "subscription.exploded", Entitlement: &billing.EntitlementView{}},
	} {
		if _, err := outbound.Render(msg); err == nil || !strings.Contains(err.Error(), msg.ID) {
			t.Errorf("Render(%+v) = %v, want an error naming the message", msg, err)
		}
	}
}
