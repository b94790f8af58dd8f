package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/billing"
)

func TestPortal(t *testing.T) {
	const path = "/api/billing/portal"
	// withCustomer gives org_a a Stripe Customer the way it gets one: a checkout.
	withCustomer := func(t *testing.T, ts *testServer) string {
		t.Helper()
		if r := ts.do(t, http.MethodPost, "/api/billing/checkout", token(t, userClaims("org_a")), strings.NewReader(`{"plan":"pro"}`), nil); r.status != 200 {
			t.Fatalf("checkout = %d %s", r.status, r.errorCode())
		}
		org, err := ts.store.Organization(context.Background(), "org_a")
		if err != nil || org.StripeCustomerID == "" {
			t.Fatalf("org after checkout = %+v, %v", org, err)
		}
		return org.StripeCustomerID
	}
	t.Run("OK", func(t *testing.T) {
		ts := newTestServer(t)
		customer := withCustomer(t, ts)
		for body, wantReturn := range map[string]string{
			`{}`: "https://app.example.com/billing",
			`{"returnUrl":"https://app.example.com/settings/billing"}`: "https://app.example.com/settings/billing",
		} {
			r := ts.do(t, http.MethodPost, path, token(t, userClaims("org_a")), strings.NewReader(body), nil)
			portals := ts.payments.Portals()
			last := portals[len(portals)-1]
			if r.status != 200 || r.body["success"] != true || r.data()["url"] != last.URL {
				t.Fatalf("%s: got %d %v, want 200 with %s", body, r.status, r.body, last.URL)
			}
			if last.CustomerID != customer || last.ReturnURL != wantReturn {
				t.Fatalf("%s: Stripe got %+v, want customer %s, return %s", body, last, customer, wantReturn)
			}
		}
	})
	t.Run("NoCustomerIsNotFound", func(t *testing.T) {
		ts := newTestServer(t)
		r := ts.do(t, http.MethodPost, path, token(t, userClaims("org_a")), strings.NewReader(`{}`), nil)
		if r.status != 404 || r.errorCode() != "NOT_FOUND" || r.errorMessage() != "No billing customer for this organization" {
			t.Fatalf("got %d %s %q, want 404 NOT_FOUND", r.status, r.errorCode(), r.errorMessage())
		}
		if _, err := ts.store.Organization(context.Background(), "org_a"); err == nil {
			t.Fatal("the portal created the org row")
		}
	})
	t.Run("UpstreamFailureIs502", func(t *testing.T) {
		ts := newTestServer(t)
		withCustomer(t, ts)
		ts.payments.Fail = &billing.Error{Code: billing.EUpstream, Message: "Stripe request failed"}
		if r := ts.do(t, http.MethodPost, path, token(t, userClaims("org_a")), strings.NewReader(`{}`), nil); r.status != 502 || r.errorCode() != "UPSTREAM_ERROR" {
			t.Fatalf("got %d %s, want 502 UPSTREAM_ERROR", r.status, r.errorCode())
		}
	})

	noOrg := userClaims("org_a")
	delete(noOrg, "org_id")
	cases := []struct {
		name, bearer, contentType, body string
		status                          int
		code, message                   string
	}{
		{"NoToken", "", "application/json", `{}`, 401, "UNAUTHORIZED", "Authentication required"},
		{"NoOrgClaim", token(t, noOrg), "application/json", `{}`, 403, "FORBIDDEN", "organization"},
		{"ForeignReturnURL", token(t, userClaims("org_a")), "application/json", `{"returnUrl":"https://evil.example.net/"}`, 400, "BAD_REQUEST", "returnUrl must be an absolute URL on an allowed origin"},
		{"UnknownField", token(t, userClaims("org_a")), "application/json", `{"return_url":"https://app.example.com/"}`, 400, "BAD_REQUEST", `Unknown field "return_url"`},
		{"EmptyBody", token(t, userClaims("org_a")), "application/json", ``, 400, "BAD_REQUEST", "Request body is required"},
		{"WrongContentType", token(t, userClaims("org_a")), "text/plain", `{}`, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"},
		{"TooLarge", token(t, userClaims("org_a")), "application/json", `{"returnUrl":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "PAYLOAD_TOO_LARGE", "larger than 64 KiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			withCustomer(t, ts)
			ts.payments.ResetCalls()
			r := ts.do(t, http.MethodPost, path, tc.bearer, strings.NewReader(tc.body), map[string]string{"Content-Type": tc.contentType})
			if r.status != tc.status || r.errorCode() != tc.code || !strings.Contains(r.errorMessage(), tc.message) {
				t.Fatalf("got %d %s %q, want %d %s containing %q", r.status, r.errorCode(), r.errorMessage(), tc.status, tc.code, tc.message)
			}
			if calls := ts.payments.Calls(); len(calls) != 0 {
				t.Fatalf("a refused request called Stripe: %v", calls)
			}
		})
	}
}
