package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/metrics/metricstest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// stripeWithMemory is Stripe as reconcile sees it: stripe-mock for every
// request, except the two lists reconcile makes, which answer from what the
// test says Stripe holds (stripe-mock keeps no state).
type stripeWithMemory struct {
	URL string

	mu          sync.Mutex
	undelivered []json.RawMessage            // events, newest first as Stripe lists them
	byCustomer  map[string][]json.RawMessage // subscriptions
	customers   []string                     // ids stripe-mock answered to customer creates
	lists       []string                     // queries of the list requests served
}

func startStripeWithMemory(t *testing.T) *stripeWithMemory {
	t.Helper()
	mock, err := url.Parse(stripetest.StartMock(t))
	if err != nil {
		t.Fatal(err)
	}
	s := &stripeWithMemory{byCustomer: map[string][]json.RawMessage{}}
	proxy := httputil.NewSingleHostReverseProxy(mock)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodPost && resp.Request.URL.Path == "/v1/customers" {
			var cus struct{ ID string }
			body, err := readAndRestore(resp)
			if err == nil && json.Unmarshal(body, &cus) == nil {
				s.mu.Lock()
				s.customers = append(s.customers, cus.ID)
				s.mu.Unlock()
			}
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/events":
			s.serveList(w, r, func() []json.RawMessage { return s.undelivered })
		case r.Method == http.MethodGet && r.URL.Path == "/v1/subscriptions":
			s.serveList(w, r, func() []json.RawMessage { return s.byCustomer[r.URL.Query().Get("customer")] })
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *stripeWithMemory) serveList(w http.ResponseWriter, r *http.Request, items func() []json.RawMessage) {
	s.mu.Lock()
	s.lists = append(s.lists, r.URL.Path+"?"+r.URL.RawQuery)
	data := append([]json.RawMessage{}, items()...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": r.URL.Path, "has_more": false, "data": data})
}

// dropEvent makes payload an event Stripe failed to deliver.
func (s *stripeWithMemory) dropEvent(payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undelivered = append([]json.RawMessage{payload}, s.undelivered...)
}

// holdSubscription makes the subscription in a subscription event's payload
// one Stripe lists for its Customer.
func (s *stripeWithMemory) holdSubscription(t *testing.T, customerID string, eventPayload []byte) {
	t.Helper()
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(eventPayload, &ev); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byCustomer[customerID] = append(s.byCustomer[customerID], ev.Data.Object)
}

func (s *stripeWithMemory) lastCustomer(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.customers) == 0 {
		t.Fatal("no Customer was created")
	}
	return s.customers[len(s.customers)-1]
}

// readAndRestore reads a proxied response's body and puts it back for the client.
func readAndRestore(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body, err
}

// waitForPlan polls the org's entitlement until it has plan, for up to 10 s:
// another process wrote it, and this one's read cache may hold the old view
// for its TTL.
func waitForPlan(t *testing.T, client *http.Client, base, token, plan string) entitlement {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
		ent := expect[entitlement](t, resp, http.StatusOK).Data
		if ent.Plan == plan || time.Now().After(deadline) {
			return ent
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReconcile_HealsADroppedWebhook is the "done when": a
// subscription webhook dropped on purpose is healed by `billingd reconcile`;
// a checkout whose subscription event never came is healed by the run serve
// makes when its replica becomes leader.
func TestReconcile_HealsADroppedWebhook(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, extraEnv map[string]string) {
		stripeAPI := startStripeWithMemory(t)
		secret := newEventsSecret(t)
		recv := newEventReceiver(t, secret) // its fixes are announced like any change
		env := mergeEnv(map[string]string{"STRIPE_API_BASE": stripeAPI.URL}, eventsEnv(secret, recv))
		for k, v := range extraEnv {
			env[k] = v
		}
		b := launch(t, env)
		client := newClient(t)

		// 1. An org pays; Stripe's subscription.created webhook is lost.
		org := newOrgID(t)
		token := userToken(t, b.secrets, org)
		startCheckout(t, client, b.base, token)
		customerID := stripeAPI.lastCustomer(t)
		created := stripeevent.SubscriptionEvent(
			stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: time.Now().Add(-time.Hour)},
			stripeevent.SubscriptionSpec{CustomerID: customerID, OrgID: org, Status: billing.StatusActive, LookupKey: "pro_monthly"},
		)
		stripeAPI.dropEvent(created)
		if ent := waitForPlan(t, client, b.base, token, billing.FreePlan); ent.Plan != billing.FreePlan {
			t.Fatalf("before reconcile: %+v", ent)
		}

		// 2. billingd reconcile, with the same configuration, applies it.
		fullEnv := b.env
		var out syncBuffer
		if err := run(t.Context(), []string{"billingd", "reconcile"}, getenvFrom(fullEnv), &out, &out); err != nil {
			t.Fatalf("billingd reconcile: %v\n%s", err, &out)
		}
		if !strings.Contains(out.String(), "fixed 1 events") {
			t.Fatalf("reconcile output does not report the fix:\n%s", &out)
		}
		if ent := waitForPlan(t, client, b.base, token, "pro"); ent.Plan != "pro" || ent.Status != "active" {
			t.Fatalf("after reconcile: %+v, want pro/active", ent)
		}
		mustBeAnnounced(t, recv, org, "pro")
		// A second run fixes nothing.
		out = syncBuffer{}
		if err := run(t.Context(), []string{"billingd", "reconcile"}, getenvFrom(fullEnv), &out, &out); err != nil {
			t.Fatalf("second billingd reconcile: %v\n%s", err, &out)
		}
		if !strings.Contains(out.String(), "fixed 0 events and 0 subscription states") {
			t.Fatalf("second run was not a no-op:\n%s", &out)
		}

		// 3. Another org's checkout completes, and its subscription's event
		// never comes; Stripe lists the subscription for its Customer.
		org2 := newOrgID(t)
		token2 := userToken(t, b.secrets, org2)
		session2 := startCheckout(t, client, b.base, token2)
		customer2 := stripeAPI.lastCustomer(t)
		subID := "sub_" + randomHex(6)
		sub2 := stripeevent.SubscriptionEvent(
			stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
			stripeevent.SubscriptionSpec{ID: subID, CustomerID: customer2, OrgID: org2, Status: billing.StatusTrialing,
				LookupKey: "pro_monthly", TrialEnd: time.Now().AddDate(0, 0, 14)},
		)
		stripeAPI.holdSubscription(t, customer2, sub2)
		expectReceipt(t, postWebhook(t, client, b.base, b.secrets.WebhookSecret, stripeevent.CheckoutSessionEvent(
			stripeevent.EventSpec{Type: billing.EventCheckoutCompleted},
			stripeevent.CheckoutSessionSpec{ID: session2, OrgID: org2, CustomerID: customer2, SubscriptionID: subID},
		)), false)

		// 4. The periodic run heals it: a restarted replica runs it when it
		// becomes leader, without anyone calling reconcile.
		b.stop(t)
		restart := map[string]string{}
		for _, k := range []string{"STRIPE_API_BASE", "DATABASE_URL", "STRIPE_WEBHOOK_SECRET", "AUTH_JWT_SECRET", "EVENTS_WEBHOOK_URL", "EVENTS_WEBHOOK_SECRET"} {
			restart[k] = fullEnv[k]
		}
		b2 := launch(t, restart)
		if ent := waitForPlan(t, client, b2.base, token2, "pro"); ent.Plan != "pro" || ent.Status != "trialing" {
			t.Fatalf("after the periodic run: %+v, want pro/trialing; logs:\n%s", ent, b2.logs)
		}
		mustBeAnnounced(t, recv, org2, "pro")
		// The run counts itself and its fix (it finishes just after its write).
		deadline := time.Now().Add(5 * time.Second)
		for {
			m := metricstest.Get(t, &http.Client{}, b2.base+"/metrics")
			runs, _ := m.Value("billingd_reconcile_runs_total", "result", "ok")
			fixes, _ := m.Value("billingd_reconcile_fixes_total", "kind", "subscription_state")
			if runs >= 1 && fixes >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the periodic run: %v ok runs and %v subscription fixes in /metrics, want at least 1 each", runs, fixes)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestReconcile_Flags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"SinceZero", []string{"-since", "0s"}, "-since must be between 1s and 720h"},
		{"SinceBeyondStripe", []string{"-since", "800h"}, "-since must be between 1s and 720h"},
		{"SinceSyntax", []string{"-since", "3d"}, "invalid value"},
		{"ExtraArgument", []string{"now"}, `unexpected argument "now"`},
		{"NoConfig", nil, "STRIPE_SECRET_KEY is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			err := run(t.Context(), append([]string{"billingd", "reconcile"}, tc.args...), getenvFrom(nil), &out, &out)
			if err == nil || !strings.Contains(err.Error()+out.String(), tc.want) {
				t.Fatalf("err = %v, output %q; want %q", err, out.String(), tc.want)
			}
		})
	}
}

// mustBeAnnounced waits for the receiver to get org's entitlement.changed on plan.
func mustBeAnnounced(t *testing.T, recv *eventReceiver, org, plan string) {
	t.Helper()
	recv.waitFor(t, "entitlement.changed of "+org, func(got []attempt) bool {
		for _, a := range got {
			if e := a.entitlement(t); a.accepted && e.OrganizationID == org && e.Plan == plan {
				return true
			}
		}
		return false
	})
}
