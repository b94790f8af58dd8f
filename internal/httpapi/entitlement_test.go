package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// Both entitlement endpoints carry cancelAt and a status Stripe added later
// as the contract states them; the validating client checks every answer
// against openapi.yaml.
func TestEntitlementCancelAtAndUnknownStatus(t *testing.T) {
	ts := newTestServer(t)
	for _, org := range []string{"org_a", "org_b"} {
		if _, err := ts.store.EnsureOrganization(context.Background(), billing.Organization{ID: org}); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Now().Truncate(time.Second)
	cancelAt := created.Add(10 * 24 * time.Hour).UTC()
	ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created},
		stripeevent.SubscriptionSpec{OrgID: "org_a", LookupKey: "pro_monthly", CancelAt: cancelAt}))
	ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created},
		stripeevent.SubscriptionSpec{OrgID: "org_b", LookupKey: "pro_monthly", RawStatus: "on_hold"}))

	check := func(t *testing.T, got map[string]any) {
		t.Helper()
		switch got["organizationId"] {
		case "org_a":
			if got["plan"] != "pro" || got["cancelAt"] != cancelAt.Format(time.RFC3339) {
				t.Errorf("org_a = %v, want pro with cancelAt %s", got, cancelAt.Format(time.RFC3339))
			}
		case "org_b":
			if got["status"] != "unknown" || got["plan"] != "free" || got["active"] != false || got["cancelAt"] != nil {
				t.Errorf("org_b = %v, want free, status unknown, cancelAt null", got)
			}
		default:
			t.Errorf("unexpected item %v", got)
		}
	}
	t.Run("Entitlement", func(t *testing.T) {
		for _, org := range []string{"org_a", "org_b"} {
			r := ts.do(t, http.MethodGet, "/api/billing/entitlement", token(t, userClaims(org)), nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d %s", org, r.status, r.errorMessage())
			}
			check(t, r.data())
		}
	})
	t.Run("Entitlements", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/entitlements?org_id=org_a&org_id=org_b", token(t, serviceClaims("svc_1")), nil, nil)
		items, _ := r.data()["items"].([]any)
		if r.status != http.StatusOK || len(items) != 2 {
			t.Fatalf("status %d, items %v", r.status, items)
		}
		for _, it := range items {
			check(t, it.(map[string]any))
		}
	})
}

// Both entitlement endpoints carry the org's version: 1 after its first
// write, 0 for an org never seen.
func TestEntitlementVersion(t *testing.T) {
	ts := newTestServer(t)
	if _, err := ts.store.EnsureOrganization(context.Background(), billing.Organization{ID: "org_a"}); err != nil {
		t.Fatal(err)
	}
	ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: time.Now().Truncate(time.Second)},
		stripeevent.SubscriptionSpec{OrgID: "org_a", LookupKey: "pro_monthly"}))
	want := map[string]float64{"org_a": 1, "org_never": 0}

	t.Run("Entitlement", func(t *testing.T) {
		for org, version := range want {
			r := ts.do(t, http.MethodGet, "/api/billing/entitlement", token(t, userClaims(org)), nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d %s", org, r.status, r.errorMessage())
			}
			if got, ok := r.data()["version"]; !ok || got != version {
				t.Errorf("%s: version = %v (present %t), want %v", org, got, ok, version)
			}
		}
	})
	t.Run("Entitlements", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/entitlements?org_id=org_a&org_id=org_never", token(t, serviceClaims("svc_1")), nil, nil)
		items, _ := r.data()["items"].([]any)
		if r.status != http.StatusOK || len(items) != 2 {
			t.Fatalf("status %d, items %v", r.status, items)
		}
		for _, it := range items {
			item := it.(map[string]any)
			org, _ := item["organizationId"].(string)
			if got, ok := item["version"]; !ok || got != want[org] {
				t.Errorf("%s: version = %v (present %t), want %v", org, got, ok, want[org])
			}
		}
	})
}
