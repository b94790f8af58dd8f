package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// deadlineSlack is what a request may take beyond its deadline: the time to
// notice it and answer.
const deadlineSlack = time.Second

// recoverWithin bounds how long billingd may take to serve again once the
// database answers: connections broken while it hung are replaced on use.
const recoverWithin = 10 * time.Second

// TestPostgres_HangingDatabase puts a TCP proxy between two billingd replicas
// and PostgreSQL and turns it into a black hole (SPEC §6: every transaction has
// a deadline, a database that hangs gives a fast 503, never a hung request).
func TestPostgres_HangingDatabase(t *testing.T) {
	const dbTimeout = 2 * time.Second
	direct := storetest.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := storetest.StartProxy(t, u.Host)
	env := map[string]string{"DATABASE_URL": proxy.ProxiedURL(t, direct), "DB_TIMEOUT": dbTimeout.String()}
	writer := launch(t, env)
	env["STRIPE_WEBHOOK_SECRET"], env["AUTH_JWT_SECRET"] = writer.WebhookSecret, writer.JWTSecret
	poller := launch(t, env)
	client := newClient(t)
	// A request that hangs fails the test instead of holding it.
	client.Timeout = longPollWait*time.Second + recoverWithin
	org := newOrgID(t)
	token := userToken(t, writer.secrets, org)
	startCheckout(t, client, writer.base, token) // the org row exists once it has checked out

	sub, first := stripeevent.NewID("sub"), time.Now().Add(-time.Hour).Truncate(time.Second)
	events := 0
	webhook := func() response {
		events++
		status := []billing.Status{billing.StatusActive, billing.StatusPastDue}[events%2]
		payload := stripeevent.SubscriptionEvent(
			stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: first.Add(time.Duration(events) * time.Second)},
			stripeevent.SubscriptionSpec{ID: sub, OrgID: org, Status: status, LookupKey: "pro_monthly"},
		)
		return postWebhook(t, client, writer.base, writer.WebhookSecret, payload)
	}
	readyz := func(base string) response {
		return mustSend(t, client, base, request{method: http.MethodGet, path: "/readyz"})
	}
	expectReceipt(t, webhook(), false)

	proxy.Hang()
	t.Run("WebhookIs5xxWithinTheDeadline", func(t *testing.T) {
		start := time.Now()
		resp := webhook()
		if took := time.Since(start); took > dbTimeout+deadlineSlack {
			t.Errorf("webhook answered after %v, want within DB_TIMEOUT (%v) + %v", took, dbTimeout, deadlineSlack)
		}
		// A 5xx: Stripe retries the delivery.
		expectError(t, resp, http.StatusServiceUnavailable, "UNAVAILABLE")
	})
	t.Run("ReadyzIs503WithinTwoSeconds", func(t *testing.T) {
		start := time.Now()
		resp := readyz(writer.base)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("/readyz answered after %v, want within 2 s", took)
		}
		expectError(t, resp, http.StatusServiceUnavailable, "UNAVAILABLE")
	})
	proxy.Resume()

	t.Run("RecoversWhenTheDatabaseAnswersAgain", func(t *testing.T) {
		for _, base := range []string{writer.base, poller.base} {
			waitFor(t, "/readyz 200 on "+base, func() bool { return readyz(base).status == http.StatusOK })
		}
		waitFor(t, "a webhook 200", func() bool { return webhook().status == http.StatusOK })
		// The other replica's notifier listens again: a webhook on one wakes
		// a long-poll held on the other.
		tag := mustSend(t, client, poller.base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token}).header.Get("ETag")
		polls := startPolls(t, client, []*process{{base: poller.base}}, token, tag)
		expectReceipt(t, webhook(), false)
		if got := polls.wait(t)[0]; got.resp.header.Get("ETag") == tag {
			t.Fatalf("long-poll on the other replica answered with the old state %s", tag)
		}
	})
}

// waitFor polls cond until it holds, failing after recoverWithin.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(recoverWithin)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, recoverWithin)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
