package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/billingd/billingd/internal/billing"
)

// Another backend service's endpoint for billingd's events, as the tests in
// events_test.go start it: it verifies every delivery with the official
// Standard Webhooks library, not with billingd's code, and records it.

// deliveryTimeout bounds how long a test waits for deliveries. The first
// retry comes 5 s after a failure, the next 10 s later.
const deliveryTimeout = 45 * time.Second

// newEventsSecret is a fresh EVENTS_WEBHOOK_SECRET.
func newEventsSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// attempt is one verified request a receiver got.
type attempt struct {
	id       string // webhook-id
	body     string
	accepted bool // answered 2xx
	at       time.Time
	event    pushedEvent
}

// pushedEvent is a delivered body, decoded as the contract spells it.
type pushedEvent struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// eventReceiver is another service's endpoint for billingd's events.
type eventReceiver struct {
	t    *testing.T
	url  string
	wh   *standardwebhooks.Webhook
	down atomic.Bool // answer 503, as while it is being redeployed

	mu       sync.Mutex
	attempts []attempt
}

func newEventReceiver(t *testing.T, secret string) *eventReceiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &eventReceiver{t: t, wh: wh}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/webhooks/billingd"
	return r
}

func (r *eventReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.t.Errorf("a delivery does not verify with the Standard Webhooks library: %v; headers %v", err, req.Header)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a := attempt{id: req.Header.Get("webhook-id"), body: string(body), accepted: !r.down.Load(), at: time.Now()}
	if err := json.Unmarshal(body, &a.event); err != nil {
		r.t.Errorf("a delivery is not JSON: %v: %s", err, body)
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
	if !a.accepted {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *eventReceiver) all() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]attempt(nil), r.attempts...)
}

// delivered returns the accepted attempts, in the order they came.
func (r *eventReceiver) delivered() []attempt {
	var out []attempt
	for _, a := range r.all() {
		if a.accepted {
			out = append(out, a)
		}
	}
	return out
}

// waitFor waits until cond holds for what the receiver got.
func (r *eventReceiver) waitFor(t *testing.T, what string, cond func([]attempt) bool) {
	t.Helper()
	deadline := time.Now().Add(deliveryTimeout)
	for !cond(r.all()) {
		if time.Now().After(deadline) {
			t.Fatalf("receiver: no %s within %v; got %d attempts", what, deliveryTimeout, len(r.all()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustHaveEachOnce checks that every message id the receiver ever saw was
// accepted exactly once, the same body on every attempt (webhook-id is
// stable across retries), and returns the accepted ones by id.
func (r *eventReceiver) mustHaveEachOnce(t *testing.T) map[string]attempt {
	t.Helper()
	accepted := map[string]attempt{}
	bodies := map[string]string{}
	for _, a := range r.all() {
		if prev, ok := bodies[a.id]; ok && prev != a.body {
			t.Errorf("message %s changed between attempts:\n%s\n%s", a.id, prev, a.body)
		}
		bodies[a.id] = a.body
		if !a.accepted {
			continue
		}
		if _, twice := accepted[a.id]; twice {
			t.Errorf("message %s was delivered twice", a.id)
		}
		accepted[a.id] = a
	}
	for id := range bodies {
		if _, ok := accepted[id]; !ok {
			t.Errorf("message %s was attempted but never delivered", id)
		}
	}
	return accepted
}

// changedEntitlement is the data of an entitlement.changed.
type changedEntitlement struct {
	OrganizationID string `json:"organizationId"`
	Plan           string `json:"plan"`
	Status         string `json:"status"`
	Version        int64  `json:"version"`
}

func (a attempt) entitlement(t *testing.T) changedEntitlement {
	t.Helper()
	if a.event.Type != string(billing.MessageEntitlementChanged) {
		t.Fatalf("message %s is %s, want entitlement.changed", a.id, a.event.Type)
	}
	var e changedEntitlement
	if err := json.Unmarshal(a.event.Data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// eventsEnv points billingd at receivers.
func eventsEnv(secret string, receivers ...*eventReceiver) map[string]string {
	urls := ""
	for i, r := range receivers {
		if i > 0 {
			urls += ","
		}
		urls += r.url
	}
	return map[string]string{"EVENTS_WEBHOOK_URL": urls, "EVENTS_WEBHOOK_SECRET": secret}
}

func mergeEnv(envs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, e := range envs {
		for k, v := range e {
			out[k] = v
		}
	}
	return out
}
