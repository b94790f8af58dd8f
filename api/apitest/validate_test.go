package apitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/api/apitest"
)

// recordingTB collects what ValidateResponse reports instead of failing the test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

const entitlementBody = `{"success":true,"data":{"organizationId":"org_1","plan":"pro",
	"status":"trialing","active":true,"seats":1,"features":["reports"],
	"trialEndsAt":"2030-01-15T00:00:00Z","currentPeriodEnd":null,"cancelAtPeriodEnd":false,"cancelAt":null,
	"version":3,"updatedAt":"2030-01-01T00:00:00Z",
	"checkout":{"sessionId":"cs_test_1","status":"complete","ready":true}}}`

func headers(kv ...string) http.Header {
	h := http.Header{"X-Request-Id": {"req-1"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func jsonHeaders(kv ...string) http.Header {
	return headers(append([]string{"Content-Type", "application/json; charset=UTF-8"}, kv...)...)
}

func TestValidateResponse(t *testing.T) {
	entitlement := httptest.NewRequest(http.MethodGet, "/api/billing/entitlement?session_id=cs_test_1&wait=5", nil)
	checkout := httptest.NewRequest(http.MethodGet, "http://billingd.test/api/billing/checkout/cs_test_1", nil)
	webhook := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", strings.NewReader(`{}`))
	errorBody := func(code string) []byte {
		return fmt.Appendf(nil, `{"success":false,"error":{"code":%q,"message":"m","requestId":"req-1"}}`, code)
	}

	for _, tt := range []struct {
		name    string
		req     *http.Request
		status  int
		header  http.Header
		body    string
		invalid string // a fragment of the expected report; "" when valid
	}{
		{name: "OK", req: entitlement, status: 200,
			header: jsonHeaders("ETag", `"e1"`), body: entitlementBody},
		{name: "OKNotModified", req: entitlement, status: 304, header: headers("ETag", `"e1"`)},
		{name: "OKError", req: checkout, status: 404,
			header: jsonHeaders(), body: string(errorBody("NOT_FOUND"))},
		{name: "OKRateLimited", req: entitlement, status: 429,
			header: jsonHeaders("Retry-After", "3"), body: string(errorBody("RATE_LIMITED"))},
		{name: "OKWebhook", req: webhook, status: 200,
			header: jsonHeaders(), body: `{"success":true,"data":{"eventId":"evt_1","duplicate":true,"outcome":"duplicate"}}`},
		{name: "OKWebhookBadSignature", req: webhook, status: 400,
			header: jsonHeaders(), body: string(errorBody("BAD_SIGNATURE"))},

		{name: "ErrMissingPlan", req: entitlement, status: 200, header: jsonHeaders("ETag", `"e1"`),
			body: strings.Replace(entitlementBody, `"plan":"pro",`, "", 1), invalid: `"plan"`},
		{name: "ErrMissingVersion", req: entitlement, status: 200, header: jsonHeaders("ETag", `"e1"`),
			body: strings.Replace(entitlementBody, `"version":3,`, "", 1), invalid: `"version"`},
		{name: "ErrNegativeVersion", req: entitlement, status: 200, header: jsonHeaders("ETag", `"e1"`),
			body: strings.Replace(entitlementBody, `"version":3,`, `"version":-1,`, 1), invalid: "version"},
		{name: "ErrWrongEnvelope", req: checkout, status: 200, header: jsonHeaders(),
			body: `{"sessionId":"cs_test_1"}`, invalid: "doesn't match schema"},
		{name: "ErrUndocumentedStatus", req: checkout, status: 409,
			header: jsonHeaders(), body: string(errorBody("CONFLICT")), invalid: "status 409 not documented"},
		{name: "ErrUndocumentedRoute", req: httptest.NewRequest(http.MethodGet, "/api/billing/nope", nil),
			status: 404, header: jsonHeaders(), body: string(errorBody("NOT_FOUND")), invalid: "route not documented"},
		{name: "ErrUnknownErrorCode", req: checkout, status: 404,
			header: jsonHeaders(), body: string(errorBody("GONE")), invalid: "doesn't match schema"},
		{name: "ErrNoRequestID", req: checkout, status: 404,
			header: http.Header{"Content-Type": {"application/json"}}, body: string(errorBody("NOT_FOUND")),
			invalid: "X-Request-Id"},
		{name: "ErrNoETag", req: entitlement, status: 200, header: jsonHeaders(),
			body: entitlementBody, invalid: "ETag"},
		{name: "ErrNotModifiedWithoutETag", req: entitlement, status: 304, header: headers(),
			invalid: "ETag"},
		{name: "ErrNoRetryAfter", req: entitlement, status: 429, header: jsonHeaders(),
			body: string(errorBody("RATE_LIMITED")), invalid: "Retry-After"},
		{name: "ErrNotJSON", req: checkout, status: 404,
			header: headers("Content-Type", "text/plain"), body: "not found", invalid: "text/plain"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := &recordingTB{TB: t}
			apitest.ValidateResponse(tb, tt.req, tt.status, tt.header, []byte(tt.body))
			errs := tb.reported()
			for _, e := range errs {
				t.Log(e)
			}
			switch {
			case tt.invalid == "" && len(errs) > 0:
				t.Errorf("valid response reported: %v", errs)
			case tt.invalid != "" && len(errs) == 0:
				t.Errorf("invalid response not reported (want a report mentioning %q)", tt.invalid)
			case tt.invalid != "" && !strings.Contains(errs[0], tt.invalid):
				t.Errorf("report does not mention %q: %s", tt.invalid, errs[0])
			}
		})
	}
}

func TestValidatingClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/healthz":
			io.WriteString(w, `{"success":true,"data":{"status":"ok"}}`)
		case "/readyz":
			io.WriteString(w, `{"success":true,"data":{}}`) // status missing
		case "/openapi.yaml":
			spec, _ := api.SpecYAML()
			w.Header().Set("Content-Type", "application/yaml")
			w.Write(spec)
		}
	}))
	defer srv.Close()

	get := func(t *testing.T, path string) (body string, reported []string) {
		t.Helper()
		tb := &recordingTB{TB: t}
		resp, err := apitest.NewValidatingClient(tb, nil).Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), tb.reported()
	}

	t.Run("OK", func(t *testing.T) {
		body, errs := get(t, "/healthz")
		if len(errs) > 0 {
			t.Errorf("valid response reported: %v", errs)
		}
		if want := `{"success":true,"data":{"status":"ok"}}`; body != want {
			t.Errorf("body not restored: got %q, want %q", body, want)
		}
	})
	t.Run("OKSpec", func(t *testing.T) {
		if _, errs := get(t, "/openapi.yaml"); len(errs) > 0 {
			t.Errorf("valid response reported: %v", errs)
		}
	})
	t.Run("ErrInvalidBody", func(t *testing.T) {
		body, errs := get(t, "/readyz")
		if len(errs) != 1 || !strings.Contains(errs[0], "status") {
			t.Errorf("want one report about data.status, got %v", errs)
		}
		if body != `{"success":true,"data":{}}` {
			t.Errorf("body not restored: got %q", body)
		}
	})
}
