package main

import (
	"bytes"
	"context"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// The end-to-end suite: it starts the whole program through run(), the way
// main does, against stripe-mock and a real database, and talks to it over
// HTTP only. Every response is validated against openapi.yaml.

func TestMain(m *testing.M) {
	if os.Getenv(childProcessEnv) == "1" {
		// This test binary was started by startProcess to be billingd itself.
		main()
		os.Exit(0)
	}
	stripetest.Main(m)
}

func TestEndToEnd_CheckoutWebhookEntitlement(t *testing.T) {
	onEachDatabase(t, testCheckoutWebhookEntitlement)
}

// testCheckoutWebhookEntitlement walks the flow of SPEC §1: checkout, a success
// page long-polling the entitlement, Stripe's webhooks provisioning it.
func testCheckoutWebhookEntitlement(t *testing.T, extraEnv map[string]string) {
	base, sec := startBillingd(t, extraEnv)
	client := newClient(t)
	org := newOrgID(t)
	token := userToken(t, sec, org)

	// 1. Checkout.
	resp := mustSend(t, client, base, request{
		method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
	})
	created := expect[checkoutCreated](t, resp, http.StatusOK).Data
	if !strings.HasPrefix(created.SessionID, "cs_") || created.URL == "" {
		t.Fatalf("checkout = %+v, want a cs_ session id and a url", created)
	}
	if resp.header.Get("X-Request-Id") == "" {
		t.Fatal("checkout response has no X-Request-Id")
	}
	sessionID := created.SessionID

	// 2. Free before any webhook; then a success page starts long-polling.
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	ent := expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Plan != "free" || ent.Status != "none" || ent.Active || ent.OrganizationID != org {
		t.Fatalf("entitlement before any webhook = %+v, want %s free/none", ent, org)
	}
	expectVersion(t, ent, 0, "before any webhook")
	freeTag := resp.header.Get("ETag")
	if freeTag == "" {
		t.Fatal("entitlement response has no ETag")
	}
	type polled struct {
		resp response
		err  error
		at   time.Time
	}
	pollDone := make(chan polled, 1)
	go func() {
		r, err := send(client, base, request{
			method: http.MethodGet, path: "/api/billing/entitlement?wait=" + strconv.Itoa(longPollWait),
			token: token, header: map[string]string{"If-None-Match": freeTag},
		})
		pollDone <- polled{r, err, time.Now()}
	}()

	// 3. Stripe creates the subscription while the poll waits.
	time.Sleep(longPollSettle)
	subID, customerID := stripeevent.NewID("sub"), stripeevent.NewID("cus")
	subEvent := stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{
			ID: subID, CustomerID: customerID, OrgID: org, Status: billing.StatusTrialing,
			LookupKey: "pro_monthly", TrialEnd: time.Now().AddDate(0, 0, 14),
		},
	)
	resp = postWebhook(t, client, base, sec.WebhookSecret, subEvent)
	webhookAt := time.Now()
	expectReceipt(t, resp, false)

	// 4. The poll wakes at once with the new state.
	var p polled
	select {
	case p = <-pollDone:
	case <-time.After(longPollTimeout):
		t.Fatalf("long-poll still waiting %v after the webhook's 200", longPollTimeout)
	}
	if p.err != nil {
		t.Fatalf("long-poll: %v", p.err)
	}
	lag := p.at.Sub(webhookAt)
	t.Logf("long-poll returned %v after the webhook's 200 (negative: before it)", lag)
	if lag > maxLongPollLag {
		t.Errorf("long-poll lag %v, want < %v", lag, maxLongPollLag)
	}
	ent = expect[entitlement](t, p.resp, http.StatusOK).Data
	if ent.Plan != "pro" || ent.Status != "trialing" || !ent.Active {
		t.Fatalf("entitlement after the subscription webhook = %+v, want pro/trialing/active", ent)
	}
	expectVersion(t, ent, 1, "after the subscription webhook")
	if tag := p.resp.header.Get("ETag"); tag == "" || tag == freeTag {
		t.Fatalf("ETag after the change = %q, want a new one (was %q)", tag, freeTag)
	}

	// 5. The checkout completes; the success page sees it ready.
	resp = postWebhook(t, client, base, sec.WebhookSecret, stripeevent.CheckoutSessionEvent(
		stripeevent.EventSpec{Type: billing.EventCheckoutCompleted},
		stripeevent.CheckoutSessionSpec{ID: sessionID, OrgID: org, CustomerID: customerID, SubscriptionID: subID},
	))
	expectReceipt(t, resp, false)

	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?session_id=" + sessionID, token: token})
	ent = expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Checkout == nil || ent.Checkout.SessionID != sessionID || ent.Checkout.Status != "complete" || !ent.Checkout.Ready {
		t.Fatalf("checkout readiness = %+v, want %s complete and ready", ent.Checkout, sessionID)
	}
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/checkout/" + sessionID, token: token})
	cs := expect[checkoutSession](t, resp, http.StatusOK).Data
	if !cs.EntitlementReady || cs.Plan != "pro" || cs.Status != "complete" || cs.URL != nil {
		t.Fatalf("checkout session = %+v (url %v), want complete, pro, entitlementReady, no url", cs, cs.URL)
	}

	// 6. Stripe redelivers the subscription event: no second effect.
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, subEvent), true)

	// 7. Conditional GET with the current tag; neither the checkout nor the
	// redelivery changed the entitlement, so its version is still 1.
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	expectVersion(t, expect[entitlement](t, resp, http.StatusOK).Data, 1, "after the checkout and a redelivery")
	tag := resp.header.Get("ETag")
	resp = mustSend(t, client, base, request{
		method: http.MethodGet, path: "/api/billing/entitlement", token: token,
		header: map[string]string{"If-None-Match": tag},
	})
	if resp.status != http.StatusNotModified || resp.header.Get("ETag") != tag || len(resp.body) != 0 {
		t.Fatalf("conditional GET = %d ETag %q body %q, want 304 ETag %q and no body",
			resp.status, resp.header.Get("ETag"), resp.body, tag)
	}

	// 8. The trial ends: the update changes the entitlement and its version.
	resp = postWebhook(t, client, base, sec.WebhookSecret, stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: time.Now().Add(2 * time.Second)},
		stripeevent.SubscriptionSpec{ID: subID, CustomerID: customerID, OrgID: org, Status: billing.StatusActive, LookupKey: "pro_monthly"},
	))
	expectReceipt(t, resp, false)
	resp = mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	ent = expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Status != "active" {
		t.Fatalf("entitlement after the update = %+v, want active", ent)
	}
	expectVersion(t, ent, 2, "after the update")

	// 9. A subscribed org cannot start another checkout.
	resp = mustSend(t, client, base, request{
		method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
	})
	expectError(t, resp, http.StatusConflict, "ALREADY_SUBSCRIBED")
}

func TestEndToEnd_ServiceToken(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	service := signToken(t, sec, map[string]any{"sub": "svc_reports", "scope": "profile " + auth.ScopeBillingRead})

	t.Run("OK", func(t *testing.T) {
		other := newOrgID(t)
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?org_id=" + other, token: service})
		ent := expect[entitlement](t, resp, http.StatusOK).Data
		if ent.OrganizationID != other || ent.Plan != "free" {
			t.Fatalf("entitlement = %+v, want %s on free", ent, other)
		}
	})
	t.Run("ErrNoOrg", func(t *testing.T) {
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: service})
		expectError(t, resp, http.StatusForbidden, "FORBIDDEN")
	})
	t.Run("ErrUserReadsAnotherOrg", func(t *testing.T) {
		user := userToken(t, sec, newOrgID(t))
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?org_id=" + newOrgID(t), token: user})
		expectError(t, resp, http.StatusForbidden, "FORBIDDEN")
	})
}

func TestEndToEnd_BadSignatureWritesNothing(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	payload := stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{OrgID: newOrgID(t), Status: billing.StatusActive, LookupKey: "pro_monthly"},
	)

	resp := postWebhook(t, client, base, "whsec_"+randomHex(24), payload)
	expectError(t, resp, http.StatusBadRequest, "BAD_SIGNATURE")

	// Had the forged delivery recorded the event id, this would be a duplicate.
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, payload), false)
}

func TestRun_RefusesToStartWithoutStripeKey(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string // overrides of baseEnv; "" unsets
		names string            // the variable the error must name
	}{
		{"NoStripeKey", map[string]string{"STRIPE_SECRET_KEY": ""}, "STRIPE_SECRET_KEY"},
		{"NoWebhookSecret", map[string]string{"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET"},
		{"MalformedPort", map[string]string{"PORT": "80a"}, "PORT"},
		{"NoAuth", map[string]string{"AUTH_JWT_SECRET": "", "AUTH_JWKS_URL": ""}, "AUTH_JWT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			env := baseEnv(t, port)
			env["STRIPE_SECRET_KEY"] = "sk_test_" + randomHex(12) // distinctive, to catch a leak
			env["STRIPE_API_BASE"] = "http://127.0.0.1:1"         // nothing real, even in a fallback
			for k, v := range tt.env {
				env[k] = v
			}
			logs := &syncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"billingd"}, getenvFrom(env), logs, logs) }()

			var err error
			select {
			case err = <-done:
			case <-time.After(refuseTimeout):
				cancel()
				<-done
				t.Fatalf("run still running after %v; it must refuse to start. logs:\n%s", refuseTimeout, logs)
			}
			if err == nil {
				t.Fatal("run returned nil, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.names) {
				t.Errorf("error %q does not name %s", msg, tt.names)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			for _, k := range []string{"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "AUTH_JWT_SECRET"} {
				if v := env[k]; v != "" && strings.Contains(msg+logs.String(), v) {
					t.Errorf("error or logs leak the value of %s: %q", k, msg)
				}
			}
			if out := logs.String(); strings.Contains(out, "DEV MODE") || strings.Contains(out, "listening") {
				t.Errorf("run served before refusing:\n%s", out)
			}
			if port := env["PORT"]; port != "80a" {
				ln, err := net.Listen("tcp", net.JoinHostPort("", port))
				if err != nil {
					t.Errorf("port %s is taken after run refused to start: %v", port, err)
				} else {
					ln.Close()
				}
			}
		})
	}
}

func TestRun_OpenAPISpecIsServed(t *testing.T) {
	base, _ := startBillingd(t, nil)
	resp := mustSend(t, newClient(t), base, request{method: http.MethodGet, path: "/openapi.yaml"})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.status)
	}
	if mt, _, err := mime.ParseMediaType(resp.header.Get("Content-Type")); err != nil || mt != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", resp.header.Get("Content-Type"))
	}
	for _, want := range []string{"openapi: 3", "/api/billing/checkout"} {
		if !bytes.Contains(resp.body, []byte(want)) {
			t.Errorf("spec lacks %q", want)
		}
	}
}

// TestSendWebhook runs the dev-mode flow printed to newcomers: checkout, then
// `billingd send-webhook`, then the entitlement is pro and the checkout ready.
func TestSendWebhook(t *testing.T) {
	base, sec := startBillingd(t, nil)
	client := newClient(t)
	org := newOrgID(t)
	token := userToken(t, sec, org)
	sessionID := startCheckout(t, client, base, token)

	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []string{"billingd", "send-webhook", "-url", base + "/webhooks/stripe",
		"-secret", sec.WebhookSecret, "-org", org, "-session", sessionID}
	if err := run(ctx, args, getenvFrom(nil), &out, &out); err != nil {
		t.Fatalf("send-webhook: %v; output:\n%s", err, out.String())
	}

	resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?session_id=" + sessionID, token: token})
	ent := expect[entitlement](t, resp, http.StatusOK).Data
	if ent.Plan != "pro" || !ent.Active || ent.Checkout == nil || !ent.Checkout.Ready {
		t.Fatalf("entitlement after send-webhook = %+v (checkout %+v), want pro and ready; send-webhook said:\n%s",
			ent, ent.Checkout, out.String())
	}
}

// TestRun_ShutdownReleasesLongPolls: on shutdown a held long-poll answers at
// once with the current state, and run returns well within the grace period.
func TestRun_ShutdownReleasesLongPolls(t *testing.T) {
	port := freePort(t)
	env := baseEnv(t, port)
	env["STRIPE_API_BASE"] = stripetest.StartMock(t)
	env["SHUTDOWN_TIMEOUT"] = "10s"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"billingd"}, getenvFrom(env), logs, logs) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := newClient(t)
	if err := waitForReady(ctx, client, base+"/healthz", done); err != nil {
		t.Fatalf("not healthy: %v\n%s", err, logs)
	}
	s := secrets{WebhookSecret: env["STRIPE_WEBHOOK_SECRET"], JWTSecret: env["AUTH_JWT_SECRET"]}
	polled := make(chan response, 1)
	go func() {
		resp, err := send(client, base, request{method: http.MethodGet, path: "/api/billing/entitlement?wait=20", token: userToken(t, s, newOrgID(t))})
		if err != nil {
			t.Errorf("long-poll: %v", err)
		}
		polled <- resp
	}()
	time.Sleep(longPollSettle)
	stopped := time.Now()
	cancel()
	select {
	case resp := <-polled:
		if resp.status != http.StatusOK {
			t.Fatalf("long-poll answered %d on shutdown, want 200 with the current state", resp.status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll still held 5 s after shutdown began")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v; logs:\n%s", err, logs)
		}
		t.Logf("run returned %v after shutdown began", time.Since(stopped))
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5 s of shutdown")
	}
}

// TestRun_ShutdownClosesUnusedConnections: a connection that never sent a
// request does not hold the shutdown, which net/http would wait on for 5 s,
// past a grace period of 2 s.
func TestRun_ShutdownClosesUnusedConnections(t *testing.T) {
	b := launch(t, map[string]string{"SHUTDOWN_TIMEOUT": "2s"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(100 * time.Millisecond) // accepted, and nothing sent
	stopped := time.Now()
	b.stop(t) // fails the test unless run returns nil
	if took := time.Since(stopped); took > time.Second {
		t.Fatalf("run returned %v after shutdown began, want at once", took)
	}
}

// expectVersion checks the entitlement's version, which the JSON must carry.
func expectVersion(t *testing.T, ent entitlement, want int64, when string) {
	t.Helper()
	if ent.Version == nil || *ent.Version != want {
		t.Fatalf("entitlement version %s = %v, want %d", when, ent.Version, want)
	}
}
