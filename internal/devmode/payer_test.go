package devmode_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/devmode"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe"
)

const webhookSecret = "whsec_devmodetest"

// payEnv is a billing.Service over SQLite and the in-memory Stripe, with a
// webhook endpoint that verifies and applies events as billingd's does, and a
// Payer sending to it.
type payEnv struct {
	svc      *billing.Service
	payer    *devmode.Payer
	received atomic.Int32 // webhook requests
}

func newPayEnv(t *testing.T, catalog *billing.Catalog, payerSecret string) *payEnv {
	t.Helper()
	e := &payEnv{svc: billing.NewService(storetest.OpenSQLite(t), billingtest.NewPayments(), notify.NewLocal(),
		billing.Options{Catalog: catalog})}
	hook := httptest.NewServer(e.webhook(t))
	t.Cleanup(hook.Close)
	e.payer = devmode.New(devmode.Options{
		Service: e.svc, Catalog: catalog, WebhookURL: hook.URL, WebhookSecret: payerSecret, HTTPClient: hook.Client(),
	})
	return e
}

// webhook is billingd's POST /webhooks/stripe in short: verify the signature
// over the raw body, apply, answer in the envelope.
func (e *payEnv) webhook(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.received.Add(1)
		body, _ := io.ReadAll(r.Body)
		ev, err := stripe.WebhookVerifier{Secret: webhookSecret}.ParseEvent(body, r.Header.Get("Stripe-Signature"))
		if err != nil {
			writeEnvelope(w, http.StatusBadRequest, map[string]any{"success": false, "error": map[string]string{
				"code": billing.ErrorCode(err), "message": billing.ErrorMessage(err), "requestId": "req_test"}})
			return
		}
		res, err := e.svc.HandleEvent(r.Context(), ev)
		if err != nil {
			t.Errorf("HandleEvent(%s %s): %v", ev.Type, ev.ID, err)
			writeEnvelope(w, http.StatusInternalServerError, map[string]any{"success": false, "error": map[string]string{
				"code": billing.EInternal, "message": "Internal error", "requestId": "req_test"}})
			return
		}
		writeEnvelope(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{
			"eventId": ev.ID, "duplicate": res.Duplicate(), "outcome": res.Outcome}})
	}
}

func writeEnvelope(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func defaultCatalog(t *testing.T) *billing.Catalog {
	t.Helper()
	c, err := billing.NewCatalog(billing.DefaultPlans())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startCheckout opens a Pro checkout for org, as POST /api/billing/checkout does.
func (e *payEnv) startCheckout(t *testing.T, org string) string {
	t.Helper()
	caller := billing.Caller{OrgID: org, UserID: "user_" + org, Email: org + "@example.com"}
	res, err := e.svc.StartCheckout(context.Background(), caller, billing.CheckoutRequest{Plan: "pro"}, "")
	if err != nil {
		t.Fatalf("StartCheckout(%s): %v", org, err)
	}
	return res.SessionID
}

func (e *payEnv) entitlement(t *testing.T, org, sessionID string) billing.EntitlementView {
	t.Helper()
	v, err := e.svc.EntitlementFor(context.Background(), billing.EntitlementQuery{OrgID: org, SessionID: sessionID})
	if err != nil {
		t.Fatalf("EntitlementFor(%s, %s): %v", org, sessionID, err)
	}
	return v
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := billing.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestPay(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		e := newPayEnv(t, defaultCatalog(t), webhookSecret)
		session := e.startCheckout(t, "org_a")

		deliveries, err := e.payer.Pay(ctx, "org_a", session)
		if err != nil {
			t.Fatalf("Pay: %v", err)
		}
		wantTypes := []string{billing.EventCheckoutCompleted, billing.EventSubscriptionCreated}
		if len(deliveries) != len(wantTypes) {
			t.Fatalf("deliveries = %+v, want %v", deliveries, wantTypes)
		}
		for i, d := range deliveries {
			if d.Type != wantTypes[i] || !strings.HasPrefix(d.EventID, "evt_") || d.Status != http.StatusOK ||
				d.Outcome != string(billing.OutcomeApplied) {
				t.Errorf("delivery %d = %+v, want a %s evt_… answered 200 applied", i, d, wantTypes[i])
			}
		}
		ent := e.entitlement(t, "org_a", session)
		if ent.Plan != "pro" || ent.Status != billing.StatusTrialing || ent.TrialEnd == nil {
			t.Errorf("entitlement = %s %s (trial end %v), want pro trialing with a trial end (Pro has trial days)",
				ent.Plan, ent.Status, ent.TrialEnd)
		}
		if !ent.Checkout.Ready || ent.Checkout.Status != billing.CheckoutComplete {
			t.Errorf("checkout = %+v, want complete and ready", *ent.Checkout)
		}
	})

	t.Run("ActiveWithoutTrialDays", func(t *testing.T) {
		e := newPayEnv(t, defaultCatalog(t).WithTrialDays(0), webhookSecret)
		session := e.startCheckout(t, "org_a")
		if _, err := e.payer.Pay(ctx, "org_a", session); err != nil {
			t.Fatalf("Pay: %v", err)
		}
		if ent := e.entitlement(t, "org_a", session); ent.Status != billing.StatusActive || ent.TrialEnd != nil || !ent.Checkout.Ready {
			t.Errorf("entitlement = %s (trial end %v, checkout %+v), want active without trial, ready",
				ent.Status, ent.TrialEnd, *ent.Checkout)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		e := newPayEnv(t, defaultCatalog(t), webhookSecret)
		session := e.startCheckout(t, "org_a")
		if _, err := e.payer.Pay(ctx, "org_a", session); err != nil {
			t.Fatalf("first Pay: %v", err)
		}
		before := e.received.Load()
		_, err := e.payer.Pay(ctx, "org_a", session)
		wantCode(t, err, billing.EConflict)
		if msg := billing.ErrorMessage(err); !strings.Contains(msg, session) || !strings.Contains(msg, "complete") {
			t.Errorf("message %q should name the session and its status", msg)
		}
		if e.received.Load() != before {
			t.Error("a session that is not open still sent events")
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		e := newPayEnv(t, defaultCatalog(t), webhookSecret)
		session := e.startCheckout(t, "org_a")
		e.startCheckout(t, "org_b")

		_, err := e.payer.Pay(ctx, "org_b", session)
		wantCode(t, err, billing.ENotFound)
		_, err = e.payer.Pay(ctx, "org_a", "cs_test_unknown")
		wantCode(t, err, billing.ENotFound)
		if n := e.received.Load(); n != 0 {
			t.Errorf("%d events sent for sessions the org does not own", n)
		}
		if ent := e.entitlement(t, "org_a", ""); ent.Active {
			t.Errorf("org_a = %s after another org tried to pay its session, want free", ent.Plan)
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		e := newPayEnv(t, defaultCatalog(t), "whsec_wrong")
		session := e.startCheckout(t, "org_a")

		deliveries, err := e.payer.Pay(ctx, "org_a", session)
		wantCode(t, err, billing.EInternal)
		var berr *billing.Error
		if !errors.As(err, &berr) || !strings.Contains(berr.Message, billing.EventCheckoutCompleted) ||
			!strings.Contains(berr.Message, "Invalid Stripe signature") || !strings.Contains(berr.Message, "400") {
			t.Errorf("error %v should name the event, the status and billingd's message", err)
		}
		if len(deliveries) != 1 || deliveries[0].Status != http.StatusBadRequest {
			t.Errorf("deliveries = %+v, want the one refused event and no more", deliveries)
		}
	})
}
