package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/httpapi"
)

const (
	appOrigin  = "https://app.example.com"
	evilOrigin = "https://evil.example.net"
)

// The CORS headers of SPEC §4, spelled as the SPEC spells them.
const (
	wantAllowMethods  = "GET, POST"
	wantAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Request-Id"
	wantExposeHeaders = "ETag, X-Request-Id, Retry-After"
)

func withCORSOrigins(origins ...string) func(*httpapi.Deps) {
	return func(d *httpapi.Deps) { d.CORSAllowedOrigins = origins }
}

// raw sends a request the way a browser would, without the contract check of
// ts.do (a preflight is not an operation of the contract).
func (ts *testServer) raw(t *testing.T, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, ts.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func preflight(origin, method string) map[string]string {
	return map[string]string{
		"Origin": origin, "Access-Control-Request-Method": method,
		"Access-Control-Request-Headers": "authorization,content-type,idempotency-key,if-none-match,x-request-id",
	}
}

func TestCORS_Preflight(t *testing.T) {
	ts := newTestServer(t, withCORSOrigins(appOrigin), withLimits(httpapi.Limits{
		Poll: config.RateLimit{Count: 1, Per: time.Hour}, Checkout: config.RateLimit{Count: 1, Per: time.Hour},
	}))
	paths := map[string]string{
		"/api/billing/checkout":          http.MethodPost,
		"/api/billing/checkout/cs_x":     http.MethodGet,
		"/api/billing/entitlement":       http.MethodGet,
		"/api/billing/entitlements":      http.MethodGet,
		"/api/billing/payments":          http.MethodGet,
		"/api/billing/portal":            http.MethodPost,
		"/api/billing/entitlement?org=x": http.MethodGet,
	}
	t.Run("AllowedOriginIsAnsweredBeforeAuthAndRateLimits", func(t *testing.T) {
		for range 3 { // more than the rate limits allow: preflights take no token
			for path, method := range paths {
				resp := ts.raw(t, http.MethodOptions, path, preflight(appOrigin, method))
				want := map[string]string{
					"Access-Control-Allow-Origin":  appOrigin,
					"Access-Control-Allow-Methods": wantAllowMethods,
					"Access-Control-Allow-Headers": wantAllowHeaders,
					"Access-Control-Max-Age":       "600",
				}
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("OPTIONS %s = %d, want 204", path, resp.StatusCode)
				}
				for k, v := range want {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("OPTIONS %s: %s = %q, want %q", path, k, got, v)
					}
				}
				assertVaryOrigin(t, resp)
				if resp.Header.Get("X-Request-Id") == "" {
					t.Errorf("OPTIONS %s has no X-Request-Id; every response carries one", path)
				}
				if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
					t.Errorf("OPTIONS %s allows credentials; billingd uses bearer tokens only", path)
				}
			}
		}
	})
	t.Run("DisallowedOriginGetsNoAllowOrigin", func(t *testing.T) {
		resp := ts.raw(t, http.MethodOptions, "/api/billing/checkout", preflight(evilOrigin, http.MethodPost))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("preflight from %s got Access-Control-Allow-Origin %q", evilOrigin, got)
		}
		assertVaryOrigin(t, resp)
	})
}

func TestCORS_ActualResponses(t *testing.T) {
	ts := newTestServer(t, withCORSOrigins(appOrigin, "http://localhost:5173"),
		withLimits(httpapi.Limits{Poll: config.RateLimit{Count: 4, Per: time.Hour}}))
	tok := token(t, userClaims("org_a"))
	bearer := func(extra map[string]string) map[string]string {
		h := map[string]string{"Origin": appOrigin, "Authorization": "Bearer " + tok}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	first := ts.raw(t, http.MethodGet, "/api/billing/entitlement", bearer(nil))
	tag := first.Header.Get("ETag")
	cases := []struct {
		name   string
		method string
		path   string
		header map[string]string
		status int
	}{
		{"OK", http.MethodGet, "/api/billing/entitlement", bearer(nil), http.StatusOK},
		{"NotModified", http.MethodGet, "/api/billing/entitlement", bearer(map[string]string{"If-None-Match": tag}), http.StatusNotModified},
		{"NotFound", http.MethodGet, "/api/billing/checkout/cs_unknown", bearer(nil), http.StatusNotFound},
		{"RateLimited", http.MethodGet, "/api/billing/entitlement", bearer(nil), http.StatusTooManyRequests},
		{"Unauthorized", http.MethodGet, "/api/billing/entitlement", map[string]string{"Origin": appOrigin}, http.StatusUnauthorized},
		{"BadRequest", http.MethodGet, "/api/billing/checkout/" + strings.Repeat("c", 256), bearer(nil), http.StatusBadRequest},
		{"UnknownRoute", http.MethodGet, "/api/billing/nope", bearer(nil), http.StatusNotFound},
		{"MethodNotAllowed", http.MethodDelete, "/api/billing/entitlement", bearer(nil), http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := ts.raw(t, tc.method, tc.path, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != appOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, appOrigin)
			}
			if got := resp.Header.Get("Access-Control-Expose-Headers"); got != wantExposeHeaders {
				t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, wantExposeHeaders)
			}
			assertVaryOrigin(t, resp)
		})
	}
	t.Run("DisallowedOrigin", func(t *testing.T) {
		resp := ts.raw(t, http.MethodGet, "/api/billing/checkout/cs_unknown", map[string]string{"Origin": evilOrigin, "Authorization": "Bearer " + tok})
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Expose-Headers") != "" {
			t.Fatalf("a response to %s carries CORS headers: %v", evilOrigin, resp.Header)
		}
	})
	t.Run("NoOriginNoCORS", func(t *testing.T) {
		resp := ts.raw(t, http.MethodGet, "/api/billing/checkout/cs_unknown", map[string]string{"Authorization": "Bearer " + tok})
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("a server-to-server request got Access-Control-Allow-Origin")
		}
	})
}

// The webhook is Stripe's and the operations endpoints are infrastructure's:
// no page may call them, even from an allowed origin.
func TestCORS_NotOnWebhookAndOperations(t *testing.T) {
	ts := newTestServer(t, withCORSOrigins(appOrigin))
	for _, path := range []string{"/webhooks/stripe", "/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		for _, method := range []string{http.MethodOptions, http.MethodGet, http.MethodPost} {
			header := preflight(appOrigin, http.MethodPost)
			resp := ts.raw(t, method, path, header)
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s %s answered %d with %s", method, path, resp.StatusCode, k)
				}
			}
		}
	}
}

func TestCORS_AnyOrigin(t *testing.T) {
	ts := newTestServer(t, withCORSOrigins(config.AnyOrigin))
	for _, origin := range []string{appOrigin, evilOrigin, "http://localhost:1234"} {
		resp := ts.raw(t, http.MethodOptions, "/api/billing/entitlement", preflight(origin, http.MethodGet))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusNoContent || got != "*" {
			t.Fatalf("preflight from %s = %d with Access-Control-Allow-Origin %q, want 204 and *", origin, resp.StatusCode, got)
		}
	}
}

func assertVaryOrigin(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, v := range resp.Header.Values("Vary") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), "Origin") {
				return
			}
		}
	}
	t.Errorf("%s %s: Vary = %q, want it to name Origin", resp.Request.Method, resp.Request.URL.Path, resp.Header.Values("Vary"))
}
