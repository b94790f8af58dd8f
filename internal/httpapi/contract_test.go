package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/httpapi"
)

// Requests are validated against openapi.yaml; the message names what is wrong.
func TestContractValidatesParameters(t *testing.T) {
	ts := newTestServer(t)
	tok := token(t, userClaims("org_a"))
	long := strings.Repeat("x", 256)
	cases := []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		body    string
		message string
	}{
		{"WaitAboveMax", http.MethodGet, "/api/billing/entitlement?wait=26", nil, "", `Query parameter "wait": number must be at most 25`},
		{"WaitNegative", http.MethodGet, "/api/billing/entitlement?wait=-1", nil, "", `Query parameter "wait": number must be at least 0`},
		{"WaitNotANumber", http.MethodGet, "/api/billing/entitlement?wait=soon", nil, "", `Query parameter "wait"`},
		{"SessionIDTooLong", http.MethodGet, "/api/billing/entitlement?session_id=" + long, nil, "", `Query parameter "session_id": maximum string length is 255`},
		{"OrgIDTooLong", http.MethodGet, "/api/billing/entitlement?org_id=" + long, nil, "", `Query parameter "org_id": maximum string length is 255`},
		{"PathSessionIDTooLong", http.MethodGet, "/api/billing/checkout/" + long, nil, "", `Path parameter "sessionId": maximum string length is 255`},
		{"IdempotencyKeyTooLong", http.MethodPost, "/api/billing/checkout", map[string]string{"Idempotency-Key": long}, `{"plan":"pro"}`, `Header parameter "Idempotency-Key": maximum string length is 255`},
		{"PaymentsLimitZero", http.MethodGet, "/api/billing/payments?limit=0", nil, "", `Query parameter "limit": number must be at least 1`},
		{"PaymentsLimitAboveMax", http.MethodGet, "/api/billing/payments?limit=101", nil, "", `Query parameter "limit": number must be at most 100`},
		{"PaymentsCursorEmpty", http.MethodGet, "/api/billing/payments?starting_after=", nil, "", `Query parameter "starting_after"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := ts.do(t, tc.method, tc.path, tok, body, tc.header)
			if r.status != http.StatusBadRequest || r.errorCode() != "BAD_REQUEST" || !strings.Contains(r.errorMessage(), tc.message) {
				t.Fatalf("got %d %s %q, want 400 BAD_REQUEST containing %q", r.status, r.errorCode(), r.errorMessage(), tc.message)
			}
		})
	}
	t.Run("BadInputStartsNoCheckout", func(t *testing.T) {
		if calls := ts.payments.Calls(); len(calls) != 0 {
			t.Fatalf("refused requests called Stripe: %v", calls)
		}
	})
}

// The most metadata keys the contract allows still reach Stripe: with
// organization_id added they are Stripe's 50.
func TestContractAllowsItsOwnLimits(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, http.MethodPost, "/api/billing/checkout", token(t, userClaims("org_a")),
		strings.NewReader(`{"plan":"pro","metadata":`+metadataJSON(49, 500)+`}`), nil)
	if r.status != http.StatusOK {
		t.Fatalf("49 metadata keys of 500 characters = %d %s %q, want 200", r.status, r.errorCode(), r.errorMessage())
	}
	session, _ := ts.payments.Session(r.data()["sessionId"].(string))
	if got := session.Params.Metadata; len(got) != 50 || got["organization_id"] != "org_a" {
		t.Fatalf("Stripe got %d metadata keys (organization_id %q), want 50 with org_a", len(got), got["organization_id"])
	}
}

// A wrong method on an existing path is 405 with Allow, in the envelope,
// before auth: it says nothing about any org.
func TestMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/api/billing/checkout", http.MethodPost},
		{http.MethodDelete, "/api/billing/entitlement", http.MethodGet},
		{http.MethodPut, "/api/billing/portal", http.MethodPost},
		{http.MethodGet, "/webhooks/stripe", http.MethodPost},
		{http.MethodPost, "/healthz", http.MethodGet},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env api.ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
				t.Fatalf("405 body is not the envelope: %v", err)
			}
			if resp.StatusCode != http.StatusMethodNotAllowed || env.Error.Code != api.ErrorCodeMETHODNOTALLOWED || env.Success {
				t.Fatalf("%s %s = %d %+v, want 405 METHOD_NOT_ALLOWED", tc.method, tc.path, resp.StatusCode, env)
			}
			if allow := resp.Header.Get("Allow"); !strings.Contains(allow, tc.allow) {
				t.Fatalf("Allow = %q, want it to list %s", allow, tc.allow)
			}
			if env.Error.RequestId == "" || env.Error.RequestId != resp.Header.Get("X-Request-Id") {
				t.Fatalf("error.requestId %q, X-Request-Id %q", env.Error.RequestId, resp.Header.Get("X-Request-Id"))
			}
		})
	}
}

// Dev mode's routes exist only when dev mode hands them over.
func TestNoDevRoutesInProduction(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/dev/", "/dev/index.html", "/dev/api/pay"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			resp := ts.raw(t, method, path, map[string]string{"Authorization": "Bearer " + token(t, userClaims("org_a"))})
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s = %d in production, want 404", method, path, resp.StatusCode)
			}
		}
	}
}

// TestMaxWaitIsTheContracts keeps the server's write timeout, sized by
// MaxWait, in step with the longest wait the contract lets a client ask for.
func TestMaxWaitIsTheContracts(t *testing.T) {
	doc, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	wait := doc.Paths.Find("/api/billing/entitlement").Get.Parameters.GetByInAndName("query", "wait")
	if max := wait.Schema.Value.Max; max == nil || *max != httpapi.MaxWait.Seconds() {
		t.Fatalf("contract's wait maximum = %v, httpapi.MaxWait = %v", max, httpapi.MaxWait)
	}
}
