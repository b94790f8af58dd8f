package httpapi

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/billing"
)

const entitlementPath = "/api/billing/entitlement"

// quickCases are entitlement reads, good and bad, as a raw query and an
// If-None-Match header ("-": none).
var quickCases = []struct {
	name, query, ifNoneMatch string
	quick                    bool // the quick check must vouch for it
}{
	{"Bare", "", "-", true},
	{"IfNoneMatch", "", `"5d41402abc4b2a76b9719d91"`, true},
	{"IfNoneMatchWeakList", "", `W/"a", "b"`, true},
	{"IfNoneMatchEmpty", "", "", true},
	{"WaitMin", "wait=0", "-", true},
	{"WaitMax", "wait=25", "-", true},
	{"WaitLeadingZero", "wait=007", "-", true},
	{"SessionAndWait", "session_id=cs_test_1&wait=20", "-", true},
	{"OrgID", "org_id=org_a", `"x"`, true},
	{"EmptyPairs", "&wait=3&&", "-", true},
	{"SessionIDAtMax", "session_id=" + strings.Repeat("s", 255), "-", true},
	{"SessionIDMultibyteAtMax", "session_id=" + strings.Repeat("é", 255), "-", true},

	{"WaitAboveMax", "wait=26", "-", false},
	{"WaitNegative", "wait=-1", "-", false},
	{"WaitPlus", "wait=+1", "-", false},
	{"WaitFraction", "wait=1.0", "-", false},
	{"WaitHuge", "wait=99999999999999999999999", "-", false},
	{"WaitWord", "wait=soon", "-", false},
	{"WaitEmpty", "wait=", "-", false},
	{"WaitNoValue", "wait", "-", false},
	{"WaitTwice", "wait=1&wait=2", "-", false},
	{"WaitEmptyThenValue", "wait=&wait=30", "-", false},
	{"SessionIDEmpty", "session_id=", "-", false},
	{"SessionIDTooLong", "session_id=" + strings.Repeat("s", 256), "-", false},
	{"SessionIDMultibyteTooLong", "session_id=" + strings.Repeat("é", 256), "-", false},
	{"OrgIDEmpty", "org_id=", "-", false},
	{"Escaped", "session_id=cs%5F1", "-", false},
	{"EscapedBad", "wait=%zz", "-", false},
	{"Plus", "session_id=a+b", "-", false},
	{"Semicolon", "wait=1;wait=99", "-", false},
	{"Unknown", "verbose=1", "-", false},
	// refuseUnstorable refuses it first; kin-openapi counts the byte as one rune.
	{"InvalidUTF8", "session_id=\xff", "-", true},
}

func quickRequest(query, ifNoneMatch string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, entitlementPath, nil)
	req.URL.RawQuery = query
	if ifNoneMatch != "-" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	return req
}

func mustContract(tb testing.TB) *contract {
	tb.Helper()
	ct, err := newContract()
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// Only the entitlement read has inputs the quick check knows: the others
// have a body, a path parameter, an array or a default to fill in.
func TestQuickCheckIsForTheEntitlementRead(t *testing.T) {
	ct := mustContract(t)
	if ct.quickCheck(http.MethodGet, entitlementPath) == nil {
		t.Fatal("GET /api/billing/entitlement has no quick check")
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/api/billing/checkout"},
		{http.MethodGet, "/api/billing/checkout/:sessionId"},
		{http.MethodGet, "/api/billing/entitlements"},
		{http.MethodGet, "/api/billing/payments"},
		{http.MethodPost, "/api/billing/portal"},
		{http.MethodGet, "/api/billing/nowhere"},
	} {
		if ct.quickCheck(r.method, r.path) != nil {
			t.Errorf("%s %s has a quick check", r.method, r.path)
		}
	}
}

// What the quick check accepts, ValidateRequest accepts too, without changing
// the request; and it accepts the reads clients actually send.
func TestQuickCheckAcceptsOnlyWhatTheContractAccepts(t *testing.T) {
	ct := mustContract(t)
	quick := ct.quickCheck(http.MethodGet, entitlementPath)
	for _, tc := range quickCases {
		t.Run(tc.name, func(t *testing.T) {
			accepted := quick.accepts(quickRequest(tc.query, tc.ifNoneMatch))
			if accepted != tc.quick {
				t.Errorf("quick check accepts = %t, want %t", accepted, tc.quick)
			}
			assertContractAgrees(t, ct, quick, tc.query, tc.ifNoneMatch)
		})
	}
	t.Run("BodyOnAGet", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, entitlementPath, strings.NewReader("{}"))
		if quick.accepts(req) {
			t.Error("quick check accepts a GET with a body, which ValidateRequest reads")
		}
	})
	t.Run("IfNoneMatchWithoutValues", func(t *testing.T) {
		req := quickRequest("", "-")
		req.Header["If-None-Match"] = []string{}
		if quick.accepts(req) {
			t.Error("quick check accepts a header without values, which ValidateRequest refuses")
		}
		c := echo.New().NewContext(req, httptest.NewRecorder())
		if ct.check(c) == nil {
			t.Error("the contract accepts a header without values; the quick check may too")
		}
	})
	t.Run("IfNoneMatchTwice", func(t *testing.T) {
		req := quickRequest("", `"a"`)
		req.Header.Add("If-None-Match", `"b"`)
		if quick.accepts(req) {
			t.Error("quick check accepts two If-None-Match headers")
		}
	})
}

// assertContractAgrees fails if the quick check accepts a request that
// ValidateRequest refuses or changes.
func assertContractAgrees(t *testing.T, ct *contract, quick *quickCheck, query, ifNoneMatch string) {
	t.Helper()
	if !quick.accepts(quickRequest(query, ifNoneMatch)) {
		return
	}
	req := quickRequest(query, ifNoneMatch)
	header := req.Header.Clone()
	c := echo.New().NewContext(req, httptest.NewRecorder())
	if err := ct.check(c); err != nil {
		t.Fatalf("quick check accepts %q (If-None-Match %q), the contract refuses it: %v", query, ifNoneMatch, err)
	}
	if c.Request().URL.RawQuery != query || !maps.EqualFunc(c.Request().Header, header, func(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }) {
		t.Fatalf("quick check accepts %q (If-None-Match %q), which the contract changes", query, ifNoneMatch)
	}
}

// Through the route's middleware, with or without the quick check, every
// request gets the same answer: a refusal with the same code and message, or
// the handler with the same query.
func TestQuickCheckSameErrors(t *testing.T) {
	ct := mustContract(t)
	withQuick := ct.validateRoute(http.MethodGet, entitlementPath)
	for _, tc := range quickCases {
		t.Run(tc.name, func(t *testing.T) {
			code, msg, query := runValidation(ct.validate, tc.query, tc.ifNoneMatch)
			qcode, qmsg, qquery := runValidation(withQuick, tc.query, tc.ifNoneMatch)
			if code != qcode || msg != qmsg || query != qquery {
				t.Errorf("with the quick check: %s %q, handler saw %q; without: %s %q, handler saw %q", qcode, qmsg, qquery, code, msg, query)
			}
		})
	}
}

// runValidation runs validate on a request and returns the refusal's code and
// message, or the query the next handler saw.
func runValidation(validate echo.MiddlewareFunc, query, ifNoneMatch string) (code, msg, seen string) {
	c := echo.New().NewContext(quickRequest(query, ifNoneMatch), httptest.NewRecorder())
	err := validate(func(c echo.Context) error {
		seen = c.QueryParams().Encode()
		return nil
	})(c)
	if err != nil {
		return billing.ErrorCode(err), billing.ErrorMessage(err), ""
	}
	return "", "", seen
}

// FuzzQuickCheck: any query and If-None-Match the quick check accepts, the
// contract accepts unchanged.
func FuzzQuickCheck(f *testing.F) {
	for _, tc := range quickCases {
		f.Add(tc.query, tc.ifNoneMatch)
	}
	ct := mustContract(f)
	quick := ct.quickCheck(http.MethodGet, entitlementPath)
	f.Fuzz(func(t *testing.T, query, ifNoneMatch string) {
		assertContractAgrees(t, ct, quick, query, ifNoneMatch)
	})
}
