package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/api/apitest"
	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

const (
	issuer        = "https://idp.example.com"
	audience      = "billingd"
	webhookSecret = "whsec_httpapitestsecret"
)

var jwtSecret = []byte("httpapi-test-secret-of-at-least-32-bytes")

// testServer is the real handler over a real SQLite store and a fake Stripe.
type testServer struct {
	url      string
	client   *http.Client
	store    *store.Store
	payments *billingtest.Payments
	jwks     *authtest.JWKSServer
}

// newTestServer builds the server; opts adjust its dependencies (rate
// limits, CORS origins, dev mode).
// newTestService is the service every handler test serves: a private SQLite
// store and the fake Stripe.
func newTestService(tb testing.TB) (*billing.Service, *store.Store, *billingtest.Payments) {
	tb.Helper()
	st := storetest.OpenSQLite(tb)
	payments := billingtest.NewPayments()
	cfg := config.Config{AppURL: "https://app.example.com", AllowedRedirectOrigins: []string{"https://app.example.com"}}
	svc := billing.NewService(st, payments, notify.NewLocal(), billing.Options{
		Access: billing.Access{PastDueAccess: true}, RedirectAllowed: cfg.RedirectAllowed,
		DefaultSuccessURL: cfg.DefaultSuccessURL(), DefaultCancelURL: cfg.DefaultCancelURL(),
	})
	return svc, st, payments
}

func newTestServer(t *testing.T, opts ...func(*httpapi.Deps)) *testServer {
	t.Helper()
	svc, st, payments := newTestService(t)
	jwks := authtest.NewJWKSServer(t)
	verifier, err := auth.NewVerifier(t.Context(), auth.Options{
		HS256Secret: jwtSecret, JWKSURL: jwks.URL(), Issuer: issuer, Audience: audience,
	})
	if err != nil {
		t.Fatal(err)
	}
	deps := httpapi.Deps{Service: svc, Verifier: verifier, ParseEvent: stripe.WebhookVerifier{Secret: webhookSecret}.ParseEvent, Database: st}
	for _, opt := range opts {
		opt(&deps)
	}
	h, err := httpapi.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, client: apitest.NewValidatingClient(t, nil), store: st, payments: payments, jwks: jwks}
}

func withLimits(l httpapi.Limits) func(*httpapi.Deps) {
	return func(d *httpapi.Deps) { d.Limits = l }
}

func userClaims(org string) jwt.MapClaims {
	c := authtest.UserClaims("user_1", org)
	c["iss"], c["aud"], c["email"] = issuer, audience, "owner@example.com"
	return c
}

func token(t *testing.T, claims jwt.MapClaims) string {
	return authtest.HS256Token(t, jwtSecret, claims)
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

// errorCode returns error.code of an error envelope.
func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r response) errorMessage() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (r response) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (ts *testServer) do(t *testing.T, method, path, bearer string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, ts.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%s %s: no X-Request-Id", method, path)
	}
	return r
}

func TestAuth(t *testing.T) {
	ts := newTestServer(t)
	expired := userClaims("org_a")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	noExp := userClaims("org_a")
	delete(noExp, "exp")
	wrongIssuer := userClaims("org_a")
	wrongIssuer["iss"] = "https://evil.example.com"
	wrongAudience := userClaims("org_a")
	wrongAudience["aud"] = "other-service"
	noOrg := userClaims("org_a")
	delete(noOrg, "org_id")
	service := authtest.ServiceClaims("svc_reports", auth.ScopeBillingRead)
	service["iss"], service["aud"] = issuer, audience
	serviceNoScope := authtest.ServiceClaims("svc_other")
	serviceNoScope["iss"], serviceNoScope["aud"] = issuer, audience

	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, userClaims("org_a")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// Algorithm confusion: HS256 signed with the RSA public key as the secret.
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, userClaims("org_a")).SignedString(ts.jwks.RSAPublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		path   string
		bearer string
		raw    string // a whole Authorization header, instead of bearer
		status int
		code   string
	}{
		{"NoHeader", "/api/billing/entitlement", "", "", 401, "UNAUTHORIZED"},
		{"BasicScheme", "/api/billing/entitlement", "", "Basic dXNlcjpwYXNz", 401, "UNAUTHORIZED"},
		{"Garbage", "/api/billing/entitlement", "not-a-jwt", "", 401, "UNAUTHORIZED"},
		{"AlgNone", "/api/billing/entitlement", noneToken, "", 401, "UNAUTHORIZED"},
		{"AlgorithmConfusion", "/api/billing/entitlement", confused, "", 401, "UNAUTHORIZED"},
		{"WrongSecret", "/api/billing/entitlement", authtest.HS256Token(t, []byte("another-secret-of-at-least-32-bytes!!"), userClaims("org_a")), "", 401, "UNAUTHORIZED"},
		{"Expired", "/api/billing/entitlement", token(t, expired), "", 401, "UNAUTHORIZED"},
		{"NoExpiry", "/api/billing/entitlement", token(t, noExp), "", 401, "UNAUTHORIZED"},
		{"WrongIssuer", "/api/billing/entitlement", token(t, wrongIssuer), "", 401, "UNAUTHORIZED"},
		{"WrongAudience", "/api/billing/entitlement", token(t, wrongAudience), "", 401, "UNAUTHORIZED"},
		{"NoOrgClaim", "/api/billing/entitlement", token(t, noOrg), "", 403, "FORBIDDEN"},
		{"NoOrgClaimCheckout", "/api/billing/checkout/cs_x", token(t, noOrg), "", 403, "FORBIDDEN"},
		{"UserReadingAnotherOrg", "/api/billing/entitlement?org_id=org_b", token(t, userClaims("org_a")), "", 403, "FORBIDDEN"},
		{"ServiceTokenWithoutOrgID", "/api/billing/entitlement", token(t, service), "", 403, "FORBIDDEN"},
		{"ServiceTokenWithoutScope", "/api/billing/entitlement?org_id=org_b", token(t, serviceNoScope), "", 403, "FORBIDDEN"},
		{"UserToken", "/api/billing/entitlement", token(t, userClaims("org_a")), "", 200, ""},
		{"UserTokenOwnOrgID", "/api/billing/entitlement?org_id=org_a", token(t, userClaims("org_a")), "", 200, ""},
		{"ServiceTokenWithScope", "/api/billing/entitlement?org_id=org_b", token(t, service), "", 200, ""},
		{"RS256ViaJWKS", "/api/billing/entitlement", ts.jwks.SignRS256(userClaims("org_a")), "", 200, ""},
		{"ES256ViaJWKS", "/api/billing/entitlement", ts.jwks.SignES256(userClaims("org_a")), "", 200, ""},
		{"EdDSAViaJWKS", "/api/billing/entitlement", ts.jwks.SignEdDSA(userClaims("org_a")), "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			if tc.raw != "" {
				header["Authorization"] = tc.raw
			}
			r := ts.do(t, http.MethodGet, tc.path, tc.bearer, nil, header)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("status %d code %q (%s), want %d %q", r.status, r.errorCode(), r.errorMessage(), tc.status, tc.code)
			}
			if tc.status == 401 && r.errorMessage() != "Authentication required" {
				t.Fatalf("401 message = %q, want %q", r.errorMessage(), "Authentication required")
			}
		})
	}
	t.Run("ServiceTokenReadsTheNamedOrg", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/entitlement?org_id=org_b", token(t, service), nil, nil)
		if r.data()["organizationId"] != "org_b" {
			t.Fatalf("organizationId = %v, want org_b", r.data()["organizationId"])
		}
	})
}

func TestCheckoutBadInput(t *testing.T) {
	big := `{"plan":"pro","metadata":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		message     string
	}{
		{"MalformedJSON", "application/json", `{"plan":`, 400, "BAD_REQUEST", "Malformed JSON"},
		{"NotAnObject", "application/json", `["pro"]`, 400, "BAD_REQUEST", "JSON object"},
		{"UnknownField", "application/json", `{"plan":"pro","coupon":"FREE"}`, 400, "BAD_REQUEST", `Unknown field "coupon"`},
		{"WrongType", "application/json", `{"plan":"pro","quantity":"two"}`, 400, "BAD_REQUEST", `Field "quantity": value must be an integer`},
		{"TrailingData", "application/json", `{"plan":"pro"} {"plan":"team"}`, 400, "BAD_REQUEST", "after the JSON object"},
		{"EmptyBody", "application/json", ``, 400, "BAD_REQUEST", "Request body is required"},
		{"TooLarge", "application/json", big, 413, "PAYLOAD_TOO_LARGE", "larger than 64 KiB"},
		{"WrongContentType", "text/plain", `{"plan":"pro"}`, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"},
		{"FormContentType", "application/x-www-form-urlencoded", `plan=pro`, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"},
		{"UnknownPlan", "application/json", `{"plan":"gold"}`, 400, "BAD_REQUEST", `Unknown plan "gold"`},
		{"UnknownInterval", "application/json", `{"plan":"pro","interval":"week"}`, 400, "BAD_REQUEST", `Field "interval": value is not one of the allowed values ["month","year"]`},
		// The contract's limits, enforced from openapi.yaml.
		{"QuantityZero", "application/json", `{"plan":"team","quantity":0}`, 400, "BAD_REQUEST", `Field "quantity": number must be at least 1`},
		{"PlanTooLong", "application/json", `{"plan":"` + strings.Repeat("p", 65) + `"}`, 400, "BAD_REQUEST", `Field "plan": maximum string length is 64`},
		{"MetadataTooManyKeys", "application/json", `{"plan":"pro","metadata":` + metadataJSON(50, 1) + `}`, 400, "BAD_REQUEST", `Field "metadata": there must be at most 49 properties`},
		{"MetadataValueTooLong", "application/json", `{"plan":"pro","metadata":{"k":"` + strings.Repeat("v", 501) + `"}}`, 400, "BAD_REQUEST", `Field "metadata.k": maximum string length is 500`},
		{"MetadataValueNotString", "application/json", `{"plan":"pro","metadata":{"k":1}}`, 400, "BAD_REQUEST", `Field "metadata.k": value must be a string`},
		{"SuccessURLTooLong", "application/json", `{"plan":"pro","successUrl":"https://app.example.com/` + strings.Repeat("a", 2048) + `"}`, 400, "BAD_REQUEST", `Field "successUrl": maximum string length is 2048`},
		// Stripe's key length, which OpenAPI 3.0 cannot state: the domain's rule.
		{"MetadataKeyTooLong", "application/json", `{"plan":"pro","metadata":{"` + strings.Repeat("k", 41) + `":"v"}}`, 400, "BAD_REQUEST", "metadata keys must be 1 to 40 characters"},
		{"UnknownPrice", "application/json", `{"priceId":"price_elsewhere"}`, 400, "BAD_REQUEST", "Invalid price ID"},
		{"NeitherPlanNorPrice", "application/json", `{"interval":"month"}`, 400, "BAD_REQUEST", "plan or priceId is required"},
		{"BothPlanAndPrice", "application/json", `{"plan":"pro","priceId":"price_pro_monthly"}`, 400, "BAD_REQUEST", "not both"},
		{"ForeignRedirectOrigin", "application/json", `{"plan":"pro","successUrl":"https://evil.example.net/ok"}`, 400, "BAD_REQUEST", "allowed origin"},
		{"LookalikeRedirectOrigin", "application/json", `{"plan":"pro","cancelUrl":"https://app.example.com.evil.net/"}`, 400, "BAD_REQUEST", "allowed origin"},
		{"MetadataOverridingOrg", "application/json", `{"plan":"pro","metadata":{"organization_id":"org_victim"}}`, 400, "BAD_REQUEST", "organization_id is reserved"},
		{"QuantityOnFlatPlan", "application/json", `{"plan":"pro","quantity":3}`, 400, "BAD_REQUEST", "per-seat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			r := ts.do(t, http.MethodPost, "/api/billing/checkout", token(t, userClaims("org_a")),
				strings.NewReader(tc.body), map[string]string{"Content-Type": tc.contentType})
			if r.status != tc.status || r.errorCode() != tc.code || !strings.Contains(r.errorMessage(), tc.message) {
				t.Fatalf("got %d %s %q, want %d %s containing %q", r.status, r.errorCode(), r.errorMessage(), tc.status, tc.code, tc.message)
			}
			if rid := r.body["error"].(map[string]any)["requestId"]; rid != r.header.Get("X-Request-Id") {
				t.Fatalf("error.requestId %v != X-Request-Id %s", rid, r.header.Get("X-Request-Id"))
			}
			// Nothing written: no org row, no Customer, no session at Stripe.
			if _, err := ts.store.Organization(context.Background(), "org_a"); err == nil {
				t.Fatal("bad input created the org row")
			}
			if n := ts.payments.CustomersCreated(); n != 0 {
				t.Fatalf("bad input created %d Stripe customers", n)
			}
			for _, c := range ts.payments.Calls() {
				if c != "prices.list" {
					t.Fatalf("bad input made Stripe call %s", c)
				}
			}
		})
	}
}

func TestCheckout(t *testing.T) {
	t.Run("OKAndIdempotencyKey", func(t *testing.T) {
		ts := newTestServer(t)
		tok := token(t, userClaims("org_a"))
		post := func(body, key string) response {
			return ts.do(t, http.MethodPost, "/api/billing/checkout", tok, strings.NewReader(body), map[string]string{"Idempotency-Key": key})
		}
		first := post(`{"plan":"pro"}`, "k1")
		if first.status != 200 || !strings.HasPrefix(first.data()["sessionId"].(string), "cs_") {
			t.Fatalf("first = %d %v", first.status, first.body)
		}
		again := post(`{"plan":"pro"}`, "k1")
		if again.data()["sessionId"] != first.data()["sessionId"] {
			t.Fatalf("same key and body gave %v, want %v", again.data()["sessionId"], first.data()["sessionId"])
		}
		if r := post(`{"plan":"team"}`, "k1"); r.status != 409 || r.errorCode() != "CONFLICT" {
			t.Fatalf("same key, other body = %d %s, want 409 CONFLICT", r.status, r.errorCode())
		}
	})
	t.Run("AlreadySubscribed", func(t *testing.T) {
		ts := newTestServer(t)
		tok := token(t, userClaims("org_a"))
		if r := ts.do(t, http.MethodPost, "/api/billing/checkout", tok, strings.NewReader(`{"plan":"pro"}`), nil); r.status != 200 {
			t.Fatalf("checkout = %d", r.status)
		}
		ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
			stripeevent.SubscriptionSpec{OrgID: "org_a", LookupKey: "pro_monthly", Status: billing.StatusActive}))
		r := ts.do(t, http.MethodPost, "/api/billing/checkout", tok, strings.NewReader(`{"plan":"team"}`), nil)
		if r.status != 409 || r.errorCode() != "ALREADY_SUBSCRIBED" {
			t.Fatalf("got %d %s, want 409 ALREADY_SUBSCRIBED", r.status, r.errorCode())
		}
	})
	t.Run("UpstreamFailureIs502WithoutDetails", func(t *testing.T) {
		ts := newTestServer(t)
		ts.payments.Fail = &billing.Error{Code: billing.EUpstream, Message: "Stripe request failed", Err: io.ErrUnexpectedEOF}
		r := ts.do(t, http.MethodPost, "/api/billing/checkout", token(t, userClaims("org_a")), strings.NewReader(`{"plan":"pro"}`), nil)
		if r.status != 502 || r.errorCode() != "UPSTREAM_ERROR" || strings.Contains(r.errorMessage(), "EOF") {
			t.Fatalf("got %d %s %q, want 502 UPSTREAM_ERROR without the cause", r.status, r.errorCode(), r.errorMessage())
		}
	})
	t.Run("OtherOrgsSessionIsNotFound", func(t *testing.T) {
		ts := newTestServer(t)
		r := ts.do(t, http.MethodPost, "/api/billing/checkout", token(t, userClaims("org_a")), strings.NewReader(`{"plan":"pro"}`), nil)
		id := r.data()["sessionId"].(string)
		if got := ts.do(t, http.MethodGet, "/api/billing/checkout/"+id, token(t, userClaims("org_a")), nil, nil); got.status != 200 || got.data()["url"] == nil {
			t.Fatalf("own open session = %d %v, want 200 with url", got.status, got.body)
		}
		for _, path := range []string{"/api/billing/checkout/" + id, "/api/billing/entitlement?session_id=" + id} {
			if got := ts.do(t, http.MethodGet, path, token(t, userClaims("org_b")), nil, nil); got.status != 404 || got.errorCode() != "NOT_FOUND" {
				t.Fatalf("%s for another org = %d %s, want 404", path, got.status, got.errorCode())
			}
		}
	})
}

// postEvent signs payload the way Stripe does and posts it.
func (ts *testServer) postEvent(t *testing.T, payload []byte) response {
	t.Helper()
	return ts.do(t, http.MethodPost, "/webhooks/stripe", "", bytes.NewReader(payload),
		map[string]string{"Stripe-Signature": stripeevent.Sign(payload, webhookSecret, time.Now())})
}

func TestWebhook(t *testing.T) {
	sub := func(id string) []byte {
		return stripeevent.SubscriptionEvent(stripeevent.EventSpec{ID: id, Type: billing.EventSubscriptionCreated},
			stripeevent.SubscriptionSpec{OrgID: "org_ghost", LookupKey: "pro_monthly"})
	}
	t.Run("BadSignatureWritesNothing", func(t *testing.T) {
		ts := newTestServer(t)
		payload := sub("evt_sig")
		for name, sig := range map[string]string{
			"WrongSecret": stripeevent.Sign(payload, "whsec_other", time.Now()),
			"TooOld":      stripeevent.Sign(payload, webhookSecret, time.Now().Add(-301*time.Second)),
			"Missing":     "",
		} {
			r := ts.do(t, http.MethodPost, "/webhooks/stripe", "", bytes.NewReader(payload), map[string]string{"Stripe-Signature": sig})
			if r.status != 400 || r.errorCode() != "BAD_SIGNATURE" {
				t.Fatalf("%s: got %d %s, want 400 BAD_SIGNATURE", name, r.status, r.errorCode())
			}
		}
		if r := ts.postEvent(t, payload); r.status != 200 || r.data()["duplicate"] != false {
			t.Fatalf("valid delivery after bad ones = %d %v, want 200 duplicate=false", r.status, r.body)
		}
	})
	t.Run("RedeliveryIsDuplicate", func(t *testing.T) {
		ts := newTestServer(t)
		payload := sub("evt_dup")
		first, again := ts.postEvent(t, payload), ts.postEvent(t, payload)
		if first.data()["duplicate"] != false || again.data()["duplicate"] != true || again.data()["eventId"] != "evt_dup" {
			t.Fatalf("first %v, again %v; want duplicate false then true", first.body, again.body)
		}
	})
	t.Run("BodyOver1MiBIsRefused", func(t *testing.T) {
		ts := newTestServer(t)
		payload := bytes.Repeat([]byte(" "), 1<<20+1)
		r := ts.do(t, http.MethodPost, "/webhooks/stripe", "", bytes.NewReader(payload), map[string]string{"Stripe-Signature": stripeevent.Sign(payload, webhookSecret, time.Now())})
		if r.status != 413 || r.errorCode() != "PAYLOAD_TOO_LARGE" {
			t.Fatalf("got %d %s, want 413", r.status, r.errorCode())
		}
	})
}

func TestEntitlementHTTP(t *testing.T) {
	ts := newTestServer(t)
	tok := token(t, userClaims("org_a"))
	first := ts.do(t, http.MethodGet, "/api/billing/entitlement", tok, nil, nil)
	tag := first.header.Get("ETag")
	if first.status != 200 || tag == "" || first.data()["plan"] != "free" || first.data()["status"] != "none" {
		t.Fatalf("first = %d %s %v", first.status, tag, first.body)
	}
	t.Run("IfNoneMatchIs304", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/api/billing/entitlement", tok, nil, map[string]string{"If-None-Match": tag})
		if r.status != 304 || r.header.Get("ETag") != tag {
			t.Fatalf("got %d %s, want 304 with %s", r.status, r.header.Get("ETag"), tag)
		}
	})
	t.Run("WaitOutOfRange", func(t *testing.T) {
		for _, w := range []string{"26", "-1", "soon"} {
			if r := ts.do(t, http.MethodGet, "/api/billing/entitlement?wait="+w, tok, nil, nil); r.status != 400 || r.errorCode() != "BAD_REQUEST" {
				t.Fatalf("wait=%s: %d %s, want 400", w, r.status, r.errorCode())
			}
		}
	})
	t.Run("LongPollWokenByWebhook", func(t *testing.T) {
		if _, err := ts.store.EnsureOrganization(context.Background(), billing.Organization{ID: "org_a"}); err != nil {
			t.Fatal(err)
		}
		done := make(chan response, 1)
		go func() {
			done <- ts.do(t, http.MethodGet, "/api/billing/entitlement?wait=10", tok, nil, map[string]string{"If-None-Match": tag})
		}()
		time.Sleep(100 * time.Millisecond)
		sent := time.Now()
		ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
			stripeevent.SubscriptionSpec{OrgID: "org_a", LookupKey: "pro_monthly", Status: billing.StatusTrialing}))
		r := <-done
		if r.status != 200 || r.data()["plan"] != "pro" || r.header.Get("ETag") == tag {
			t.Fatalf("long-poll = %d %v", r.status, r.body)
		}
		if lag := time.Since(sent); lag > time.Second {
			t.Fatalf("long-poll answered %v after the webhook", lag)
		}
	})
	t.Run("RequestIDEchoedWhenSane", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/healthz", "", nil, map[string]string{"X-Request-Id": "abc-123_x.y"})
		if got := r.header.Get("X-Request-Id"); got != "abc-123_x.y" {
			t.Fatalf("X-Request-Id = %q, want echoed", got)
		}
		r = ts.do(t, http.MethodGet, "/healthz", "", nil, map[string]string{"X-Request-Id": "bad id\"<script>"})
		if got := r.header.Get("X-Request-Id"); strings.ContainsAny(got, " \"<") {
			t.Fatalf("X-Request-Id = %q, want a fresh one", got)
		}
	})
}

func TestOperations(t *testing.T) {
	ts := newTestServer(t)
	if r := ts.do(t, http.MethodGet, "/healthz", "", nil, nil); r.status != 200 {
		t.Fatalf("healthz = %d", r.status)
	}
	if r := ts.do(t, http.MethodGet, "/readyz", "", nil, nil); r.status != 200 {
		t.Fatalf("readyz = %d", r.status)
	}
	resp, err := http.Get(ts.url + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/api/billing/checkout") {
		t.Fatalf("openapi.yaml = %d", resp.StatusCode)
	}
	if err := ts.store.Close(); err != nil {
		t.Fatal(err)
	}
	if r := ts.do(t, http.MethodGet, "/readyz", "", nil, nil); r.status != 503 || r.errorCode() != "UNAVAILABLE" {
		t.Fatalf("readyz with the database closed = %d %s, want 503 UNAVAILABLE", r.status, r.errorCode())
	}
}

// metadataJSON is a metadata object of n keys, each value valueLen long.
func metadataJSON(n, valueLen int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"key_%d":%q`, i, strings.Repeat("v", valueLen))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
