package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

func serviceClaims(sub string) jwt.MapClaims {
	c := authtest.ServiceClaims(sub, auth.ScopeBillingRead)
	c["iss"], c["aud"] = issuer, audience
	return c
}

// subscribe makes org exist and gives it an active pro subscription, through
// the webhook like Stripe would.
func (ts *testServer) subscribe(t *testing.T, org string) {
	t.Helper()
	if _, err := ts.store.EnsureOrganization(context.Background(), billing.Organization{ID: org}); err != nil {
		t.Fatal(err)
	}
	r := ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{OrgID: org, LookupKey: "pro_monthly", Status: billing.StatusActive}))
	if r.status != http.StatusOK || r.data()["outcome"] != "applied" {
		t.Fatalf("subscription webhook for %s = %d %v, want 200 applied", org, r.status, r.body)
	}
}

func TestEntitlementsForServices(t *testing.T) {
	ts := newTestServer(t)
	ts.subscribe(t, "org_a")
	ts.subscribe(t, "org_c")
	svc := token(t, serviceClaims("svc_dashboard"))

	t.Run("InTheOrderAskedWithRepeatsAndUnknownOrgsFree", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/entitlements?org_id=org_c&org_id=org_never&org_id=org_a&org_id=org_c", svc, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.errorMessage())
		}
		items, _ := r.data()["items"].([]any)
		want := []struct{ org, plan, status string }{
			{"org_c", "pro", "active"}, {"org_never", "free", "none"}, {"org_a", "pro", "active"}, {"org_c", "pro", "active"},
		}
		if len(items) != len(want) {
			t.Fatalf("%d items, want %d: %v", len(items), len(want), items)
		}
		for i, w := range want {
			got := items[i].(map[string]any)
			if got["organizationId"] != w.org || got["plan"] != w.plan || got["status"] != w.status {
				t.Errorf("item %d = %v, want %+v", i, got, w)
			}
			if _, ok := got["checkout"]; ok {
				t.Errorf("item %d has checkout", i)
			}
		}
		if _, err := ts.store.Organization(context.Background(), "org_never"); err == nil {
			t.Fatal("reading an unknown org created its row")
		}
	})
	t.Run("UserTokensAreForbidden", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/entitlements?org_id=org_a", token(t, userClaims("org_a")), nil, nil)
		if r.status != http.StatusForbidden || !strings.Contains(r.errorMessage(), auth.ScopeBillingRead) {
			t.Fatalf("user token = %d %q, want 403 naming %s", r.status, r.errorMessage(), auth.ScopeBillingRead)
		}
	})
	t.Run("OneToAHundredOrgs", func(t *testing.T) {
		ids := func(n int) string {
			q := make([]string, n)
			for i := range q {
				q[i] = fmt.Sprintf("org_id=org_%d", i)
			}
			return strings.Join(q, "&")
		}
		if r := ts.do(t, http.MethodGet, "/api/billing/entitlements?"+ids(100), svc, nil, nil); r.status != http.StatusOK {
			t.Fatalf("100 orgs = %d %s", r.status, r.errorMessage())
		}
		for name, query := range map[string]string{"None": "", "OneTooMany": ids(101), "EmptyID": "org_id="} {
			r := ts.do(t, http.MethodGet, "/api/billing/entitlements?"+query, svc, nil, nil)
			if r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(), `"org_id"`) {
				t.Errorf("%s: %d %q, want 400 naming org_id", name, r.status, r.errorMessage())
			}
		}
	})
}

// Backend services read on their own hot paths: POLL_RATE_LIMIT counts user
// tokens only, and service tokens have a limit of their own, off by default.
func TestReadRateLimitsByCaller(t *testing.T) {
	// The default's count, over a period long enough that no token refills
	// while the test runs.
	poll := config.RateLimit{Count: 600, Per: 24 * time.Hour}
	get := func(ts *testServer, bearer string) response {
		return ts.do(t, http.MethodGet, "/api/billing/entitlement?org_id=org_a", bearer, nil, nil)
	}

	t.Run("ServiceTokensAreNotCountedByThePollLimit", func(t *testing.T) {
		ts := newTestServer(t, withLimits(httpapi.Limits{Poll: poll}))
		svc := token(t, serviceClaims("svc_api"))
		for i := range 2000 {
			if r := get(ts, svc); r.status != http.StatusOK {
				t.Fatalf("service read %d = %d %s, want 200", i+1, r.status, r.errorCode())
			}
		}
		// The same burst from a user is limited: the limit is on.
		user := token(t, userClaims("org_a"))
		for i := range poll.Count {
			if r := get(ts, user); r.status != http.StatusOK {
				t.Fatalf("user read %d = %d", i+1, r.status)
			}
		}
		assertRateLimited(t, get(ts, user), poll.Per/time.Duration(poll.Count))
	})
	t.Run("ServiceRateLimitCountsPerService", func(t *testing.T) {
		ts := newTestServer(t, withLimits(httpapi.Limits{Poll: poll, Service: config.RateLimit{Count: 2, Per: time.Minute}}))
		a, b := token(t, serviceClaims("svc_a")), token(t, serviceClaims("svc_b"))
		for range 2 {
			if r := get(ts, a); r.status != http.StatusOK {
				t.Fatalf("svc_a = %d", r.status)
			}
		}
		assertRateLimited(t, get(ts, a), time.Minute)
		if r := get(ts, b); r.status != http.StatusOK {
			t.Fatalf("svc_b after svc_a's limit = %d", r.status)
		}
		if r := get(ts, token(t, userClaims("org_a"))); r.status != http.StatusOK {
			t.Fatalf("a user after svc_a's limit = %d", r.status)
		}
	})
}
