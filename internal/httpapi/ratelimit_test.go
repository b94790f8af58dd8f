package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/httpapi"
)

// assertRateLimited checks a refusal: 429 RATE_LIMITED in the envelope (the
// validating client checks it against openapi.yaml) and a Retry-After of whole
// seconds within (0, maxWait].
func assertRateLimited(t *testing.T, r response, maxWait time.Duration) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.errorCode() != "RATE_LIMITED" {
		t.Fatalf("got %d %s %q, want 429 RATE_LIMITED", r.status, r.errorCode(), r.errorMessage())
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxWait {
		t.Fatalf("Retry-After = %q, want whole seconds in [1, %v]", r.header.Get("Retry-After"), maxWait)
	}
	if !strings.Contains(r.errorMessage(), "retry in "+strconv.Itoa(secs)+" seconds") {
		t.Fatalf("message %q does not say when to retry", r.errorMessage())
	}
}

func TestCheckoutRateLimit(t *testing.T) {
	limits := httpapi.Limits{Checkout: config.RateLimit{Count: 2, Per: time.Minute}}
	checkout := func(ts *testServer, org, body string) response {
		return ts.do(t, http.MethodPost, "/api/billing/checkout", token(t, userClaims(org)), strings.NewReader(body), nil)
	}
	t.Run("OverTheLimitIs429AndTouchesNothing", func(t *testing.T) {
		ts := newTestServer(t, withLimits(limits))
		first := checkout(ts, "org_a", `{"plan":"pro"}`)
		if r := checkout(ts, "org_a", `{"plan":"pro"}`); first.status != 200 || r.status != 200 {
			t.Fatalf("checkouts within the limit = %d, %d", first.status, r.status)
		}
		ts.payments.ResetCalls()
		// A different plan would expire the open session and create another.
		assertRateLimited(t, checkout(ts, "org_a", `{"plan":"team"}`), 30*time.Second)
		if calls := ts.payments.Calls(); len(calls) != 0 {
			t.Fatalf("a refused checkout called Stripe: %v", calls)
		}
		state, err := ts.store.CheckoutState(context.Background(), "org_a", "", time.Now())
		if err != nil || state.OpenSession == nil || state.OpenSession.ID != first.data()["sessionId"] {
			t.Fatalf("open session after refusal = %+v, %v; want the first one", state.OpenSession, err)
		}
	})
	t.Run("OtherOrgUnaffected", func(t *testing.T) {
		ts := newTestServer(t, withLimits(limits))
		for range 3 {
			checkout(ts, "org_a", `{"plan":"pro"}`)
		}
		if r := checkout(ts, "org_b", `{"plan":"pro"}`); r.status != 200 {
			t.Fatalf("org_b after org_a's limit = %d %s", r.status, r.errorCode())
		}
	})
	t.Run("RefusalCreatesNoOrg", func(t *testing.T) {
		ts := newTestServer(t, withLimits(httpapi.Limits{Checkout: config.RateLimit{Count: 1, Per: time.Hour}}))
		// Invalid requests count too: the limit caps attempts, not successes.
		if r := checkout(ts, "org_new", `{"plan":"gold"}`); r.status != 400 {
			t.Fatalf("bad plan = %d", r.status)
		}
		assertRateLimited(t, checkout(ts, "org_new", `{"plan":"pro"}`), time.Hour)
		if _, err := ts.store.Organization(context.Background(), "org_new"); err == nil {
			t.Fatal("a refused checkout created the org row")
		}
		if calls := ts.payments.Calls(); len(calls) != 0 {
			t.Fatalf("a refused checkout called Stripe: %v", calls)
		}
	})
	t.Run("PortalHasItsOwnBucket", func(t *testing.T) {
		ts := newTestServer(t, withLimits(httpapi.Limits{Checkout: config.RateLimit{Count: 1, Per: time.Minute}}))
		tok := token(t, userClaims("org_a"))
		if r := ts.do(t, http.MethodPost, "/api/billing/portal", tok, strings.NewReader(`{}`), nil); r.status != 404 {
			t.Fatalf("portal without a customer = %d", r.status)
		}
		assertRateLimited(t, ts.do(t, http.MethodPost, "/api/billing/portal", tok, strings.NewReader(`{}`), nil), time.Minute)
		if r := checkout(ts, "org_a", `{"plan":"pro"}`); r.status != 200 {
			t.Fatalf("checkout after the portal's limit = %d %s", r.status, r.errorCode())
		}
	})
}

func TestPollRateLimit(t *testing.T) {
	ts := newTestServer(t, withLimits(httpapi.Limits{Poll: config.RateLimit{Count: 3, Per: time.Minute}}))
	get := func(bearer string) response {
		return ts.do(t, http.MethodGet, "/api/billing/entitlement?org_id=org_a", bearer, nil, nil)
	}
	alice := token(t, userClaims("org_a"))
	for i := range 3 {
		if r := get(alice); r.status != 200 {
			t.Fatalf("poll %d = %d", i+1, r.status)
		}
	}
	assertRateLimited(t, get(alice), 20*time.Second)

	t.Run("PerClientNotPerOrg", func(t *testing.T) {
		bob := userClaims("org_a")
		bob["sub"] = "user_bob"
		service := authtest.ServiceClaims("svc_reports", auth.ScopeBillingRead)
		service["iss"], service["aud"] = issuer, audience
		for name, bearer := range map[string]string{"OtherUser": token(t, bob), "ServiceToken": token(t, service)} {
			if r := get(bearer); r.status != 200 {
				t.Fatalf("%s after alice's limit = %d %s", name, r.status, r.errorCode())
			}
		}
	})
	t.Run("NoSubjectFallsBackToRemoteIP", func(t *testing.T) {
		anon := func(email string) string {
			c := userClaims("org_a")
			delete(c, "sub")
			c["email"] = email // another token, same (absent) subject, same address
			return token(t, c)
		}
		for i := range 3 {
			if r := get(anon("n" + strconv.Itoa(i) + "@example.com")); r.status != 200 {
				t.Fatalf("subject-less poll %d = %d", i+1, r.status)
			}
		}
		assertRateLimited(t, get(anon("other@example.com")), 20*time.Second)
	})
	t.Run("CheckoutUnaffected", func(t *testing.T) {
		if r := ts.do(t, http.MethodPost, "/api/billing/checkout", alice, strings.NewReader(`{"plan":"pro"}`), nil); r.status != 200 {
			t.Fatalf("checkout after the poll limit = %d %s", r.status, r.errorCode())
		}
	})
}

func TestRateLimitsDisabled(t *testing.T) {
	ts := newTestServer(t) // zero Limits: no limit at all
	tok := token(t, userClaims("org_a"))
	for i := range 40 {
		if r := ts.do(t, http.MethodGet, "/api/billing/entitlement", tok, nil, nil); r.status != 200 {
			t.Fatalf("poll %d = %d %s", i+1, r.status, r.errorCode())
		}
	}
	for i := range 15 {
		if r := ts.do(t, http.MethodPost, "/api/billing/checkout", tok, strings.NewReader(`{"plan":"pro"}`), nil); r.status != 200 {
			t.Fatalf("checkout %d = %d %s", i+1, r.status, r.errorCode())
		}
	}
}
