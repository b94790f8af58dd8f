package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/stripe"
)

// runSendWebhook runs `billingd send-webhook args…` with env as its
// environment and returns its output and error.
func runSendWebhook(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out syncBuffer
	err := run(ctx, append([]string{"billingd", "send-webhook"}, args...), getenvFrom(env), &out, &out)
	return out.String(), err
}

func TestSendWebhook_FlagsAreCheckedBeforeSending(t *testing.T) {
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { received.Add(1) }))
	defer srv.Close()
	valid := func(flags ...string) []string {
		return append([]string{"-url", srv.URL, "-secret", "whsec_test", "-org", "org_a"}, flags...)
	}

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"PositionalArgument", valid("org_b"), nil, `unexpected argument "org_b"`},
		{"RelativeURL", valid("-url", "/webhooks/stripe"), nil, `-url "/webhooks/stripe" is not an absolute http(s) URL`},
		{"NotHTTP", valid("-url", "ftp://localhost/webhooks/stripe"), nil, `-url "ftp://localhost/webhooks/stripe" is not`},
		{"NoHost", valid("-url", "http:///webhooks/stripe"), nil, `is not an absolute http(s) URL`},
		{"EmptyOrg", valid("-org", ""), nil, "-org is required"},
		{"UnknownStatus", valid("-status", "happy"), nil, `-status "happy" is not one of trialing, active, past_due`},
		{"StatusNoneIsNotStripes", valid("-status", "none"), nil, `-status "none" is not one of`},
		{"EmptyLookupKey", valid("-lookup-key", ""), nil, "-lookup-key is required"},
		{"SessionIsNotCheckout", valid("-session", "sub_123"), nil, `-session "sub_123" is not a Checkout Session id (cs_…)`},
		{"NoSecret", []string{"-url", srv.URL, "-org", "org_a"}, nil, "-secret or STRIPE_WEBHOOK_SECRET is required"},
		{"EmptySecretFlag", valid("-secret", ""), map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_env"}, "-secret or STRIPE_WEBHOOK_SECRET is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runSendWebhook(t, tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q; output:\n%s", err, tt.want, out)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "billingd send-webhook: ") {
				t.Errorf("error %q is not one line naming the command", msg)
			}
		})
	}
	if n := received.Load(); n != 0 {
		t.Errorf("%d requests sent by invocations with bad flags, want none", n)
	}
}

func TestSendWebhook_SecretDefaultsToEnvironment(t *testing.T) {
	const secret = "whsec_fromenv"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := stripe.ParseEvent(body, r.Header.Get("Stripe-Signature"), secret)
		if err != nil {
			t.Errorf("not signed with $STRIPE_WEBHOOK_SECRET: %v", err)
		}
		fmt.Fprintf(w, `{"success":true,"data":{"eventId":%q,"duplicate":false,"outcome":"applied"}}`, ev.ID)
	}))
	defer srv.Close()

	out, err := runSendWebhook(t, map[string]string{"STRIPE_WEBHOOK_SECRET": secret}, "-url", srv.URL, "-org", "org_a")
	if err != nil || !strings.Contains(out, "→ applied") {
		t.Fatalf("err = %v; output:\n%s", err, out)
	}
}

// TestSendWebhook_AgainstBillingd: what send-webhook prints for each answer of
// a real billingd.
func TestSendWebhook_AgainstBillingd(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	url := base + "/webhooks/stripe"

	t.Run("Applied", func(t *testing.T) {
		org := newOrgID(t)
		resp := mustSend(t, client, base, request{
			method: http.MethodPost, path: "/api/billing/checkout", token: userToken(t, sec, org), body: []byte(`{"plan":"pro"}`),
		})
		session := expect[checkoutCreated](t, resp, http.StatusOK).Data.SessionID

		out, err := runSendWebhook(t, nil, "-url", url, "-secret", sec.WebhookSecret, "-org", org, "-session", session)
		if err != nil {
			t.Fatalf("send-webhook: %v; output:\n%s", err, out)
		}
		want := regexp.MustCompile(`^checkout\.session\.completed evt_\w+ → applied\ncustomer\.subscription\.created evt_\w+ → applied\n$`)
		if !want.MatchString(out) {
			t.Errorf("output:\n%s\nwant one line per event with its outcome, applied", out)
		}
	})

	t.Run("UnknownOrg", func(t *testing.T) {
		org := newOrgID(t) // never checked out
		out, err := runSendWebhook(t, nil, "-url", url, "-secret", sec.WebhookSecret, "-org", org)
		if err == nil || !strings.Contains(err.Error(), org) || !strings.Contains(err.Error(), "POST /api/billing/checkout") {
			t.Errorf("error = %v, want one naming %s and how an org comes to exist", err, org)
		}
		if !regexp.MustCompile(`customer\.subscription\.created evt_\w+ → unknown_org`).MatchString(out) {
			t.Errorf("output:\n%s\nwant the event's unknown_org outcome", out)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		out, err := runSendWebhook(t, nil, "-url", url, "-secret", "whsec_wrong", "-org", newOrgID(t))
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("error = %v, want one naming billingd's 400", err)
		}
		if !strings.Contains(out, "→ 400 Bad Request: Invalid Stripe signature") {
			t.Errorf("output:\n%s\nwant the status and billingd's message", out)
		}
	})
}
