package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
)

// TestTokensRefusedByAuth: SPEC §3's token limits reach the client as the
// one 401, while the same claims in an ordinary token are served.
func TestTokensRefusedByAuth(t *testing.T) {
	ts := newTestServer(t)
	padded := userClaims("org_a")
	padded["pad"] = strings.Repeat("p", auth.MaxTokenBytes)
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, userClaims("org_a"))
	crit.Header["crit"] = []string{"b64"}
	critToken, err := crit.SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"Oversized": token(t, padded), "CriticalHeader": critToken} {
		t.Run(name, func(t *testing.T) {
			r := ts.do(t, "GET", "/api/billing/entitlement", tok, nil, nil)
			if r.status != 401 || r.errorCode() != "UNAUTHORIZED" || r.errorMessage() != "Authentication required" {
				t.Fatalf("got %d %s %q, want 401 Authentication required", r.status, r.errorCode(), r.errorMessage())
			}
		})
	}
	t.Run("SameClaimsServed", func(t *testing.T) {
		if r := ts.do(t, "GET", "/api/billing/entitlement", token(t, userClaims("org_a")), nil, nil); r.status != 200 {
			t.Fatalf("got %d %s, want 200", r.status, r.errorCode())
		}
	})
}

// TestTokenWithoutOrg: "a token without an org is 403" has one owner, so
// every route that needs the caller's own org answers it the same way.
func TestTokenWithoutOrg(t *testing.T) {
	ts := newTestServer(t)
	user := userClaims("org_a")
	delete(user, "org_id")
	service := authtest.ServiceClaims("svc_reports", auth.ScopeBillingRead)
	service["iss"], service["aud"] = issuer, audience
	const want = "Token has no organization claim"
	for _, tc := range []struct {
		name, method, path, body string
		token                    string
	}{
		{"Entitlement", "GET", "/api/billing/entitlement", "", token(t, user)},
		{"EntitlementServiceWithoutOrgID", "GET", "/api/billing/entitlement", "", token(t, service)},
		{"Payments", "GET", "/api/billing/payments", "", token(t, user)},
		{"GetCheckout", "GET", "/api/billing/checkout/cs_x", "", token(t, user)},
		{"CreateCheckout", "POST", "/api/billing/checkout", `{"plan":"pro"}`, token(t, user)},
		{"Portal", "POST", "/api/billing/portal", `{}`, token(t, user)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := ts.do(t, tc.method, tc.path, tc.token, body, nil)
			if r.status != http.StatusForbidden || r.errorCode() != "FORBIDDEN" || r.errorMessage() != want {
				t.Fatalf("got %d %s %q, want 403 FORBIDDEN %q", r.status, r.errorCode(), r.errorMessage(), want)
			}
		})
	}
	t.Run("ServiceNamingAnOrgReadsIt", func(t *testing.T) {
		if r := ts.do(t, "GET", "/api/billing/entitlement?org_id=org_b", token(t, service), nil, nil); r.status != http.StatusOK {
			t.Fatalf("got %d %s, want 200", r.status, r.errorCode())
		}
	})
}
