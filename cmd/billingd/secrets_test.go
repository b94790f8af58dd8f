package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// TestEndToEnd_NoSecretLeaks runs two billingds at LOG_LEVEL=debug with
// distinctive secrets — one whose Stripe key stripe-mock accepts, one whose key
// it refuses and echoes back in its 401 — and drives the paths that handle
// secrets: bad, forged and expired bearer tokens, a good one, checkout (OK and
// failing upstream), the portal, webhooks with bad and good signatures,
// /metrics. No secret and no bearer token may appear in the logs, in any
// response (headers or body), or in the scrape.
func TestEndToEnd_NoSecretLeaks(t *testing.T) {
	good := leakEnv("sk_test_" + randomHex(16))
	// stripe-mock refuses a key of more than three _-separated parts.
	bad := leakEnv("sk_test_" + randomHex(8) + "_" + randomHex(8))
	var seen leakHaystack

	t.Run("StripeAccepts", func(t *testing.T) {
		b := launch(t, good)
		base, logs, sec := b.base, b.logs, b.secrets
		org := newOrgID(t)
		goodToken := userToken(t, sec, org)
		tokens := badTokens(t, sec, org)
		for _, tok := range tokens {
			resp := seen.send(t, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: tok})
			expectError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
		}
		expect[checkoutCreated](t, seen.send(t, base, request{
			method: http.MethodPost, path: "/api/billing/checkout", token: goodToken, body: []byte(`{"plan":"pro"}`),
		}), http.StatusOK)
		expect[struct{}](t, seen.send(t, base, request{
			method: http.MethodPost, path: "/api/billing/portal", token: goodToken, body: []byte(`{}`),
		}), http.StatusOK)
		sub := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
			stripeevent.SubscriptionSpec{OrgID: org, Status: billing.StatusActive, LookupKey: "pro_monthly"})
		expectError(t, seen.webhook(t, base, "whsec_"+randomHex(24), sub), http.StatusBadRequest, "BAD_SIGNATURE")
		expectReceipt(t, seen.webhook(t, base, sec.WebhookSecret, sub), false)
		expect[entitlement](t, seen.send(t, base, request{
			method: http.MethodGet, path: "/api/billing/entitlement", token: goodToken,
		}), http.StatusOK)
		seen.send(t, base, request{method: http.MethodGet, path: "/metrics"})

		stopAndRead(t, b, &seen, "logs of the billingd Stripe accepts")
		// Not vacuous: the capture holds request logs, Stripe traces and the org.
		for _, want := range []string{`"request_id":"req_`, `"org_id":"` + org + `"`, `"stripe_request_id":"req_`, `"msg":"stripe request"`} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %s:\n%s", want, logs)
			}
		}
		seen.secrets = append(seen.secrets, append(tokens, goodToken)...)
	})

	t.Run("StripeRefusesKey", func(t *testing.T) {
		b := launch(t, bad)
		base, logs, sec := b.base, b.logs, b.secrets
		token := userToken(t, sec, newOrgID(t))
		expectError(t, seen.send(t, base, request{
			method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
		}), http.StatusBadGateway, "UPSTREAM_ERROR")
		seen.send(t, base, request{method: http.MethodGet, path: "/metrics"})

		stopAndRead(t, b, &seen, "logs of the billingd Stripe refuses")
		// Not vacuous: stripe-mock did echo the key, and billingd redacted it.
		if !strings.Contains(logs.String(), "[redacted key]") || !strings.Contains(logs.String(), `"msg":"stripe request failed"`) {
			t.Errorf("logs show no refused Stripe request with its key redacted:\n%s", logs)
		}
		seen.secrets = append(seen.secrets, token)
	})

	for _, env := range []map[string]string{good, bad} {
		for _, k := range []string{"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "AUTH_JWT_SECRET"} {
			seen.secrets = append(seen.secrets, env[k])
		}
	}
	seen.check(t)
}

// leakEnv is the environment of a billingd with stripeKey and fresh,
// distinctive secrets, logging everything.
func leakEnv(stripeKey string) map[string]string {
	return map[string]string{
		"STRIPE_SECRET_KEY":     stripeKey,
		"STRIPE_WEBHOOK_SECRET": "whsec_" + randomHex(24),
		"AUTH_JWT_SECRET":       randomHex(32),
		"LOG_LEVEL":             "debug",
	}
}

// badTokens are bearer tokens billingd must refuse: not a JWT, signed with
// another secret, expired.
func badTokens(t *testing.T, s secrets, org string) []string {
	t.Helper()
	claims := func(exp time.Time) map[string]any {
		return map[string]any{"sub": "user_" + org, "org_id": org, "iat": exp.Add(-time.Hour).Unix(), "exp": exp.Unix()}
	}
	forged, err := auth.SignHS256([]byte(randomHex(32)), claims(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := auth.SignHS256([]byte(s.JWTSecret), claims(time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"tok_" + randomHex(20), forged, expired}
}

// leakHaystack collects everything billingd said and every secret it must not
// have said.
type leakHaystack struct {
	texts   []labelled
	secrets []string
}

type labelled struct{ label, text string }

func (h *leakHaystack) add(label, text string) { h.texts = append(h.texts, labelled{label, text}) }

// send sends r with a plain client (the error paths here need not match the
// contract) and keeps the response, headers included.
func (h *leakHaystack) send(t *testing.T, base string, r request) response {
	t.Helper()
	resp := mustSend(t, &http.Client{Timeout: 30 * time.Second}, base, r)
	var head strings.Builder
	_ = resp.header.Write(&head)
	h.add("response to "+r.method+" "+r.path, head.String()+"\n"+string(resp.body))
	return resp
}

func (h *leakHaystack) webhook(t *testing.T, base, secret string, payload []byte) response {
	t.Helper()
	return h.send(t, base, request{
		method: http.MethodPost, path: "/webhooks/stripe", body: payload,
		header: map[string]string{"Stripe-Signature": stripeevent.Sign(payload, secret, time.Now())},
	})
}

// check fails for each secret found in a text. A JWT's signature is checked
// on its own as well: it is the part that must never be replayable.
func (h *leakHaystack) check(t *testing.T) {
	t.Helper()
	if len(h.texts) == 0 || len(h.secrets) == 0 {
		t.Fatal("nothing collected: the leak check would be vacuous")
	}
	for _, s := range h.secrets {
		needles := []string{s}
		if i := strings.LastIndexByte(s, '.'); i > 0 {
			needles = append(needles, s[i+1:])
		}
		for _, needle := range needles {
			for _, txt := range h.texts {
				if strings.Contains(txt.text, needle) {
					t.Errorf("%s carries the secret %q:\n%s", txt.label, needle, txt.text)
				}
			}
		}
	}
}

// stopAndRead stops the test's billingd now, so that its logs are complete,
// and keeps them for the search.
func stopAndRead(t *testing.T, b *instance, h *leakHaystack, label string) {
	t.Helper()
	b.stop(t)
	h.add(label, b.logs.String())
	if b.logs.String() == "" {
		t.Fatalf("%s are empty", label)
	}
}
