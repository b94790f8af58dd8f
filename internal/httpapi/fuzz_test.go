package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/stripe"
)

// Who a fuzzed request is sent as: the fuzzer picks a caller rather than a
// token, which it could not sign.
const (
	asAnonymous uint8 = iota
	asUser
	asService
	callers
)

// fuzzHandler is newTestServer's handler for a fuzz target, which has no
// *testing.T to build one with: the same service, served in-process so that
// any bytes reach it. Long-polls answer at once.
func fuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	svc, st, _ := newTestService(tb)
	verifier, err := auth.NewVerifier(tb.Context(), auth.Options{HS256Secret: jwtSecret, Issuer: issuer, Audience: audience})
	if err != nil {
		tb.Fatal(err)
	}
	life := httpapi.NewLifecycle()
	life.Drain()
	h, err := httpapi.New(httpapi.Deps{
		Service: svc, Verifier: verifier, ParseEvent: stripe.WebhookVerifier{Secret: webhookSecret}.ParseEvent,
		Lifecycle: life, Database: st,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// fuzzRequest reads method, target, headers (one "Name: value" a line) and
// body as net/http would read them off the wire; false when it would refuse
// them before any handler.
func fuzzRequest(method, target, headers string, body []byte, authorization string) (*http.Request, bool) {
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: billingd.test\r\n", method, target)
	for line := range strings.Lines(headers) {
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			raw.WriteString(line + "\r\n")
		}
	}
	if authorization != "" {
		raw.WriteString("Authorization: " + authorization + "\r\n")
	}
	fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n", len(body))
	raw.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil {
		return nil, false
	}
	req.RemoteAddr = "192.0.2.1:4242"
	return req, true
}

// FuzzRequest: whatever a client sends, billingd answers below 500, never
// panics, and every error it answers is in the envelope.
func FuzzRequest(f *testing.F) {
	h := fuzzHandler(f)
	service := authtest.ServiceClaims("svc_fuzz", auth.ScopeBillingRead)
	service["iss"], service["aud"] = issuer, audience
	bearer := [callers]string{
		asUser:    "Bearer " + authtest.HS256Token(f, jwtSecret, userClaims("org_fuzz")),
		asService: "Bearer " + authtest.HS256Token(f, jwtSecret, service),
	}
	const jsonType = "Content-Type: application/json"
	for _, seed := range []struct {
		method, target, headers, body string
		as                            uint8
	}{
		{"GET", "/healthz", "", "", asAnonymous},
		{"GET", "/api/billing/entitlement?wait=1&session_id=cs_1", "If-None-Match: \"1\"", "", asUser},
		{"GET", "/api/billing/entitlements?org_id=a&org_id=b", "", "", asService},
		{"GET", "/api/billing/payments?limit=100&starting_after=in_1&org_id=o", "", "", asService},
		{"POST", "/api/billing/checkout", jsonType + "\nIdempotency-Key: k1", `{"plan":"team","interval":"year","quantity":3,"metadata":{"a":"b"}}`, asUser},
		{"POST", "/api/billing/checkout", jsonType, `{"priceId":"price_pro_monthly","successUrl":"https://app.example.com/ok"}`, asUser},
		{"POST", "/api/billing/portal", jsonType, `{"returnUrl":"https://app.example.com/"}`, asUser},
		{"GET", "/api/billing/checkout/%00", "", "", asUser},
		{"POST", "/webhooks/stripe", "Stripe-Signature: t=1,v1=00", `{"id":"evt_1","type":"customer.created"}`, asAnonymous},
		{"OPTIONS", "/api/billing/checkout", "Origin: https://app.example.com\nAccess-Control-Request-Method: POST", "", asAnonymous},
		{"DELETE", "/api/billing/entitlement", "", "", asUser},
	} {
		f.Add(seed.method, seed.target, seed.headers, []byte(seed.body), seed.as)
	}
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte, as uint8) {
		req, ok := fuzzRequest(method, target, headers, body, bearer[as%callers])
		if !ok {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", req.Method, req.RequestURI, rec.Code, rec.Body)
		}
		requestID := rec.Header().Get("X-Request-Id")
		if requestID == "" {
			t.Fatalf("%s %s: no X-Request-Id", req.Method, req.RequestURI)
		}
		if rec.Code < 400 || req.Method == http.MethodHead {
			return
		}
		var env struct {
			Success *bool `json:"success"`
			Error   struct{ Code, Message, RequestID string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Success == nil || *env.Success ||
			env.Error.Code == "" || env.Error.Message == "" || env.Error.RequestID != requestID {
			t.Fatalf("%s %s: %d is not an error envelope with request id %s: %s", req.Method, req.RequestURI, rec.Code, requestID, rec.Body)
		}
	})
}
