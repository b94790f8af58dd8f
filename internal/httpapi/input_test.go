package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// assertNothingWritten checks that org_a has no row, Customer or session.
func (ts *testServer) assertNothingWritten(t *testing.T) {
	t.Helper()
	if _, err := ts.store.Organization(context.Background(), "org_a"); err == nil {
		t.Fatal("the request created the org row")
	}
	if n := ts.payments.CustomersCreated(); n != 0 {
		t.Fatalf("the request created %d Stripe customers", n)
	}
	for _, c := range ts.payments.Calls() {
		if c != "prices.list" {
			t.Fatalf("the request made Stripe call %s", c)
		}
	}
}

// TestUnstorableInput: text PostgreSQL cannot store (a NUL, bytes that are
// not UTF-8) is a 400 wherever it comes in, before any handler runs.
func TestUnstorableInput(t *testing.T) {
	cases := []struct {
		name, method, path string
		header             map[string]string
		body               string // JSON; none when ""
		message            string
	}{
		{"PathNUL", "GET", "/api/billing/checkout/%00", nil, "", "Path must be UTF-8 text without NUL bytes"},
		{"PathNotUTF8", "GET", "/api/billing/checkout/cs_%FF", nil, "", "Path must be"},
		{"QueryNUL", "GET", "/api/billing/entitlement?session_id=cs_%00", nil, "", `Query parameter "session_id" must be`},
		{"QueryNotUTF8", "GET", "/api/billing/entitlement?session_id=cs_%FF", nil, "", `Query parameter "session_id" must be`},
		{"QueryNameNotUTF8", "GET", "/api/billing/entitlement?%FF=1", nil, "", "Query parameter names must be"},
		{"PaymentsCursorNUL", "GET", "/api/billing/payments?starting_after=in_%00", nil, "", `Query parameter "starting_after" must be`},
		{"IdempotencyKeyNotUTF8", "POST", "/api/billing/checkout", map[string]string{"Idempotency-Key": "key-\xff"}, `{"plan":"pro"}`, `Header "Idempotency-Key" must be`},
		{"IfNoneMatchNotUTF8", "GET", "/api/billing/entitlement", map[string]string{"If-None-Match": "\"\xff\""}, "", `Header "If-None-Match" must be`},
		{"JSONEscapedNUL", "POST", "/api/billing/checkout", nil, `{"plan":"pro","metadata":{"k":"v\u0000"}}`, `Field "metadata.k" must be`},
		{"JSONEscapedNULInKey", "POST", "/api/billing/checkout", nil, `{"plan":"pro","metadata":{"k\u0000":"v"}}`, `Field "metadata" must be`},
		{"JSONEscapedNULInURL", "POST", "/api/billing/checkout", nil, `{"plan":"pro","successUrl":"https://app.example.com/\u0000"}`, `Field "successUrl" must be`},
		{"JSONRawNotUTF8", "POST", "/api/billing/checkout", nil, "{\"plan\":\"pro\",\"metadata\":{\"k\":\"v\xff\"}}", "Request body must be UTF-8"},
		{"PortalEscapedNUL", "POST", "/api/billing/portal", nil, `{"returnUrl":"https://app.example.com/\u0000"}`, `Field "returnUrl" must be`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := ts.do(t, tc.method, tc.path, token(t, userClaims("org_a")), body, tc.header)
			if r.status != 400 || r.errorCode() != "BAD_REQUEST" || !strings.Contains(r.errorMessage(), tc.message) {
				t.Fatalf("got %d %s %q, want 400 BAD_REQUEST containing %q", r.status, r.errorCode(), r.errorMessage(), tc.message)
			}
			if rid := r.body["error"].(map[string]any)["requestId"]; rid != r.header.Get("X-Request-Id") {
				t.Fatalf("error.requestId %v != X-Request-Id %s", rid, r.header.Get("X-Request-Id"))
			}
			ts.assertNothingWritten(t)
		})
	}
	t.Run("BeforeAuth", func(t *testing.T) {
		ts := newTestServer(t)
		if r := ts.do(t, "GET", "/api/billing/checkout/%00", "", nil, nil); r.status != 400 || r.errorCode() != "BAD_REQUEST" {
			t.Fatalf("without a token: got %d %s, want 400 BAD_REQUEST", r.status, r.errorCode())
		}
	})
}

// TestStorableLookalikes are the near misses of TestUnstorableInput, which
// must go through: the check is about the decoded text, not its spelling.
func TestStorableLookalikes(t *testing.T) {
	for name, body := range map[string]string{
		"EscapedBackslashThenU0000": `{"plan":"pro","metadata":{"k":"\\u0000"}}`,
		"NonASCII":                  `{"plan":"pro","metadata":{"k":"Grüße, 日本"}}`,
		"EscapedNonASCII":           `{"plan":"pro","metadata":{"k":"\u00e9\ud83d\ude00"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t)
			r := ts.do(t, "POST", "/api/billing/checkout", token(t, userClaims("org_a")), strings.NewReader(body), nil)
			if r.status != 200 {
				t.Fatalf("got %d %s %q, want 200", r.status, r.errorCode(), r.errorMessage())
			}
		})
	}
	t.Run("NonASCIIQuery", func(t *testing.T) {
		ts := newTestServer(t)
		r := ts.do(t, "GET", "/api/billing/entitlement?session_id=cs_%C3%A9", token(t, userClaims("org_a")), nil, nil)
		if r.status != 404 || r.errorCode() != "NOT_FOUND" {
			t.Fatalf("an unknown but storable session id: got %d %s, want 404", r.status, r.errorCode())
		}
	})
}

// An Authorization header that is not text is a bad token like any other.
func TestUnstorableAuthorizationIs401(t *testing.T) {
	ts := newTestServer(t)
	for name, header := range map[string]string{
		"NotUTF8":         "Bearer \xff\xfe",
		"NotUTF8InScheme": "Bear\xffer abc",
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.do(t, "GET", "/api/billing/entitlement", "", nil, map[string]string{"Authorization": header})
			if r.status != 401 || r.errorCode() != "UNAUTHORIZED" || r.errorMessage() != "Authentication required" {
				t.Fatalf("got %d %s %q, want 401 Authentication required", r.status, r.errorCode(), r.errorMessage())
			}
		})
	}
}

// An X-Request-Id billingd cannot echo is replaced, and the request served.
func TestUnstorableRequestIDIsReplaced(t *testing.T) {
	ts := newTestServer(t)
	const sent = "req-\xff\xfe"
	r := ts.do(t, "GET", "/api/billing/entitlement", token(t, userClaims("org_a")), nil, map[string]string{"X-Request-Id": sent})
	got := r.header.Get("X-Request-Id")
	if r.status != 200 || got == sent || !regexp.MustCompile(`^req_[0-9a-f]+$`).MatchString(got) {
		t.Fatalf("got %d with X-Request-Id %q, want 200 with a fresh id", r.status, got)
	}
}

// The webhook's body is Stripe's signed bytes: nothing reads it before the
// signature is verified, and a verified one is taken as Stripe sent it.
func TestWebhookBodyNotCheckedBeforeSignature(t *testing.T) {
	event := stripeevent.Event(stripeevent.EventSpec{Type: "customer.created"},
		map[string]any{"object": "customer", "id": "cus_1", "name": "a\x00b"})
	event = bytes.Replace(event, []byte(`"object":"customer"`), []byte("\"object\":\"customer\",\"note\":\"\xff\""), 1)
	if !bytes.Contains(event, []byte(`\u0000`)) || !bytes.Contains(event, []byte{0xff}) {
		t.Fatalf("the payload lacks the bytes under test: %s", event)
	}
	ts := newTestServer(t)
	bad := ts.do(t, "POST", "/webhooks/stripe", "", bytes.NewReader(event),
		map[string]string{"Stripe-Signature": stripeevent.Sign(event, "whsec_other", time.Now())})
	if bad.status != 400 || bad.errorCode() != "BAD_SIGNATURE" {
		t.Fatalf("wrongly signed: got %d %s, want 400 BAD_SIGNATURE", bad.status, bad.errorCode())
	}
	if r := ts.postEvent(t, event); r.status != http.StatusOK {
		t.Fatalf("signed: got %d %s %q, want 200", r.status, r.errorCode(), r.errorMessage())
	}
}
