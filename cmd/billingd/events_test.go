package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/metrics/metricstest"
	"github.com/billingd/billingd/internal/outbound"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// The push feed as other backend services see it: real billingd, signed
// Stripe webhooks in, and receivers that verify every delivery with the
// official Standard Webhooks library, not with billingd's code.

// subscribe checks org out and posts a signed subscription event with status
// at created, as Stripe would; it returns the event's payload.
func subscribe(t *testing.T, client *http.Client, b *instance, org string, status billing.Status, created time.Time) []byte {
	t.Helper()
	event := stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created},
		stripeevent.SubscriptionSpec{ID: "sub_" + org, CustomerID: "cus_" + org, OrgID: org, Status: status, LookupKey: "pro_monthly",
			CurrentPeriodEnd: created.Truncate(time.Hour).Add(30 * 24 * time.Hour)},
	)
	expectReceipt(t, postWebhook(t, client, b.base, b.secrets.WebhookSecret, event), false)
	return event
}

// getEntitlementData is the data of GET /api/billing/entitlement, as JSON.
func getEntitlementData(t *testing.T, client *http.Client, b *instance, token string) json.RawMessage {
	t.Helper()
	resp := mustSend(t, client, b.base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token})
	return expect[json.RawMessage](t, resp, http.StatusOK).Data
}

// waitForDrained waits until billingd's queue has nothing left to deliver.
func waitForDrained(t *testing.T, b *instance) {
	t.Helper()
	plain := &http.Client{Timeout: 10 * time.Second}
	waitForGauge(t, func() metricstest.Scrape { return metricstest.Get(t, plain, b.base+"/metrics") }, "billingd_event_queue_depth", 0)
}

// TestEvents_EndToEnd is the "done when": checkout, a signed Stripe webhook,
// and the receiver gets a verified entitlement.changed with plan pro and the
// version GET serves; a duplicate Stripe event sends nothing; an invoice sends
// payment.succeeded.
func TestEvents_EndToEnd(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, extraEnv map[string]string) {
		secret := newEventsSecret(t)
		recv := newEventReceiver(t, secret)
		b := launch(t, mergeEnv(extraEnv, eventsEnv(secret, recv)))
		client := newClient(t)
		org := newOrgID(t)
		token := userToken(t, b.secrets, org)
		startCheckout(t, client, b.base, token)

		event := subscribe(t, client, b, org, billing.StatusActive, time.Now().Truncate(time.Second))
		sent := time.Now()
		recv.waitFor(t, "entitlement.changed", func(got []attempt) bool { return len(got) > 0 })
		first := recv.all()[0]
		t.Logf("entitlement.changed arrived %v after the webhook's 200", first.at.Sub(sent))
		got := first.entitlement(t)
		if got.OrganizationID != org || got.Plan != "pro" || got.Status != "active" || got.Version != 1 {
			t.Fatalf("entitlement.changed = %+v, want %s on pro, active, version 1", got, org)
		}
		// The data is exactly what GET answers (which has no checkout without a session id).
		var fromGet, pushed map[string]any
		_ = json.Unmarshal(getEntitlementData(t, client, b, token), &fromGet)
		_ = json.Unmarshal(first.event.Data, &pushed)
		if a, b := mustJSON(t, fromGet), mustJSON(t, pushed); a != b {
			t.Fatalf("pushed data %s\nGET data    %s", b, a)
		}

		expectReceipt(t, postWebhook(t, client, b.base, b.secrets.WebhookSecret, event), true) // Stripe redelivers
		invoice := stripeevent.InvoiceEvent(stripeevent.EventSpec{Type: billing.EventInvoicePaid},
			stripeevent.InvoiceSpec{ID: "in_" + org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, OrgID: org, AmountDue: 1900, AmountPaid: 1900})
		expectReceipt(t, postWebhook(t, client, b.base, b.secrets.WebhookSecret, invoice), false)
		recv.waitFor(t, "payment.succeeded", func(got []attempt) bool { return len(got) >= 2 })
		waitForDrained(t, b)

		all := recv.all()
		if len(all) != 2 || all[1].event.Type != string(billing.MessagePaymentSucceeded) {
			t.Fatalf("receiver got %d messages (%v), want entitlement.changed then payment.succeeded and nothing for the redelivery", len(all), all)
		}
		var payment struct {
			OrganizationID string `json:"organizationId"`
			InvoiceID      string `json:"invoiceId"`
			Amount         int64  `json:"amount"`
			Status         string `json:"status"`
		}
		_ = json.Unmarshal(all[1].event.Data, &payment)
		if payment.OrganizationID != org || payment.InvoiceID != "in_"+org || payment.Amount != 1900 || payment.Status != "paid" {
			t.Fatalf("payment.succeeded data = %+v", payment)
		}
		if all[0].id == all[1].id {
			t.Fatal("two messages share a webhook-id")
		}
		plain := &http.Client{Timeout: 10 * time.Second}
		scrape := metricstest.Get(t, plain, b.base+"/metrics")
		for _, typ := range []string{"entitlement.changed", "payment.succeeded"} {
			if v, _ := scrape.Value("billingd_event_deliveries_total", "type", typ, "result", "delivered"); v != 1 {
				t.Errorf("billingd_event_deliveries_total{type=%q,result=delivered} = %v, want 1", typ, v)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEvents_ReceiverDownAcrossARestart: one receiver is down while changes
// happen and billingd restarts; the other, up all along, gets everything at
// once; once back, the first gets everything too, each message exactly once,
// with the webhook-id of its failed attempts.
func TestEvents_ReceiverDownAcrossARestart(t *testing.T) {
	secret := newEventsSecret(t)
	down, up := newEventReceiver(t, secret), newEventReceiver(t, secret)
	down.down.Store(true)
	env := mergeEnv(eventsEnv(secret, down, up), map[string]string{"DATABASE_URL": "sqlite:" + t.TempDir() + "/billingd.db"})
	first := launch(t, env)
	client := newClient(t)
	const orgs = 3
	for range orgs {
		org := newOrgID(t)
		startCheckout(t, client, first.base, userToken(t, first.secrets, org))
		subscribe(t, client, first, org, billing.StatusActive, time.Now().Truncate(time.Second))
	}
	up.waitFor(t, "every message on the receiver that is up", func(got []attempt) bool { return len(got) == orgs })
	down.waitFor(t, "a failed attempt of every message", func(got []attempt) bool { return len(distinctIDs(got)) == orgs })
	first.stop(t)

	second := launch(t, env)
	down.down.Store(false)
	down.waitFor(t, "every message once back", func([]attempt) bool { return len(down.delivered()) == orgs })
	waitForDrained(t, second)

	gotDown, gotUp := down.mustHaveEachOnce(t), up.mustHaveEachOnce(t)
	if len(gotDown) != orgs || len(gotUp) != orgs {
		t.Fatalf("delivered %d and %d messages, want %d each", len(gotDown), len(gotUp), orgs)
	}
	for id, a := range gotUp {
		if gotDown[id].body != a.body {
			t.Errorf("message %s differs between the endpoints", id)
		}
	}
	if failed := len(down.all()) - orgs; failed < orgs {
		t.Errorf("%d failed attempts, want at least %d (one per message)", failed, orgs)
	}
}

func distinctIDs(got []attempt) map[string]bool {
	ids := map[string]bool{}
	for _, a := range got {
		ids[a.id] = true
	}
	return ids
}

// TestEvents_TwoReplicasDeliverOnce: changes made through two replicas on one
// PostgreSQL are delivered once to each endpoint, not once per replica.
func TestEvents_TwoReplicasDeliverOnce(t *testing.T) {
	secret := newEventsSecret(t)
	a, b := newEventReceiver(t, secret), newEventReceiver(t, secret)
	env := mergeEnv(eventsEnv(secret, a, b), map[string]string{"DATABASE_URL": storetest.PostgresURL(t)})
	replicas := []*instance{launch(t, env), launch(t, env)}
	client := newClient(t)
	const changes = 20
	for i := range changes {
		r := replicas[i%2]
		org := newOrgID(t)
		startCheckout(t, client, r.base, userToken(t, r.secrets, org))
		subscribe(t, client, r, org, billing.StatusActive, time.Now().Truncate(time.Second))
	}
	for _, recv := range []*eventReceiver{a, b} {
		recv.waitFor(t, "every message", func([]attempt) bool { return len(recv.delivered()) >= changes })
	}
	waitForDrained(t, replicas[0])
	for name, recv := range map[string]*eventReceiver{"first": a, "second": b} {
		if got := recv.mustHaveEachOnce(t); len(got) != changes {
			t.Errorf("%s endpoint got %d messages, want %d", name, len(got), changes)
		}
	}
}

// TestEvents_Burst: 1,000 Stripe events over 100 orgs, the orgs at once and
// each org's events in a shuffled order, give exactly one message per change
// of a view: as many as the applied events that changed the status, versions
// 1, 2, … n each delivered once and enqueued in increasing order, the last one
// what GET serves.
func TestEvents_Burst(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, extraEnv map[string]string) {
		const orgs, perOrg, senders = 100, 10, 16
		secret := newEventsSecret(t)
		recv := newEventReceiver(t, secret)
		b := launch(t, mergeEnv(extraEnv, eventsEnv(secret, recv)))
		client := newClient(t)
		base := time.Now().Add(-time.Hour).Truncate(time.Hour)
		type orgEvents struct {
			org, token string
			events     [][]byte
			statuses   []billing.Status
			changes    int // applied events that changed the view, counted as they are sent
		}
		all := make([]*orgEvents, orgs)
		for n := range all {
			o := &orgEvents{org: newOrgID(t)}
			o.token = userToken(t, b.secrets, o.org)
			startCheckout(t, client, b.base, o.token)
			for i := range perOrg {
				status := []billing.Status{billing.StatusActive, billing.StatusPastDue}[i%2]
				o.statuses = append(o.statuses, status)
				o.events = append(o.events, stripeevent.SubscriptionEvent(
					stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: base.Add(time.Duration(i) * time.Second)},
					stripeevent.SubscriptionSpec{ID: "sub_" + o.org, CustomerID: "cus_" + o.org, OrgID: o.org, Status: status,
						LookupKey: "pro_monthly", CurrentPeriodEnd: base.Add(30 * 24 * time.Hour)}))
			}
			all[n] = o
		}
		work := make(chan *orgEvents)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for o := range work {
					var shown billing.Status // the status the org's view shows
					for _, i := range mathrand.Perm(perOrg) {
						ev := o.events[i]
						resp, err := send(client, b.base, request{method: http.MethodPost, path: "/webhooks/stripe", body: ev,
							header: map[string]string{"Stripe-Signature": stripeevent.Sign(ev, b.secrets.WebhookSecret, time.Now())}})
						if err != nil || resp.status != http.StatusOK {
							t.Errorf("webhook: %v %d %s", err, resp.status, resp.body)
							continue
						}
						var receipt envelope[webhookReceipt]
						_ = json.Unmarshal(resp.body, &receipt)
						if receipt.Data.Outcome == string(billing.OutcomeApplied) && o.statuses[i] != shown {
							o.changes++
							shown = o.statuses[i]
						}
					}
				}
			})
		}
		for _, o := range all {
			work <- o
		}
		close(work)
		wg.Wait()
		waitForDrained(t, b)

		delivered := recv.mustHaveEachOnce(t)
		versions := map[string][]int64{}
		last := map[string]attempt{}
		for _, a := range delivered {
			e := a.entitlement(t)
			versions[e.OrganizationID] = append(versions[e.OrganizationID], e.Version)
			if e.Version > lastVersion(t, last[e.OrganizationID]) {
				last[e.OrganizationID] = a
			}
		}
		enqueued := enqueuedVersions(t, b.env["DATABASE_URL"])
		total := 0
		for _, o := range all {
			got := slices.Sorted(slices.Values(versions[o.org]))
			if len(got) != o.changes {
				t.Fatalf("%s: %d messages, want %d: one per applied event that changed the view", o.org, len(got), o.changes)
			}
			for i, v := range got {
				if v != int64(i+1) {
					t.Fatalf("%s: versions delivered %v, want 1..%d each once", o.org, got, len(got))
				}
			}
			if vs := enqueued[o.org]; len(vs) != len(got) || !slices.IsSorted(vs) || len(slices.Compact(slices.Clone(vs))) != len(vs) {
				t.Fatalf("%s: versions in enqueue order %v, want %d strictly increasing", o.org, vs, len(got))
			}
			total += len(got)
			var fromGet, pushed map[string]any
			_ = json.Unmarshal(getEntitlementData(t, client, b, o.token), &fromGet)
			_ = json.Unmarshal(last[o.org].event.Data, &pushed)
			if mustJSON(t, fromGet) != mustJSON(t, pushed) {
				t.Fatalf("%s: last message %v, GET %v", o.org, pushed, fromGet)
			}
		}
		t.Logf("%d events over %d orgs: %d messages, one per change of a view", orgs*perOrg, orgs, total)
	})
}

func lastVersion(t *testing.T, a attempt) int64 {
	if a.id == "" {
		return 0
	}
	return a.entitlement(t).Version
}

// enqueuedVersions reads River's delivery and batch jobs in id order (the
// order they were enqueued) and returns each org's entitlement versions in
// that order.
func enqueuedVersions(t *testing.T, databaseURL string) map[string][]int64 {
	t.Helper()
	const kinds = "kind IN ('event_delivery', 'event_delivery_batch') ORDER BY id"
	driver, dsn, query := "pgx", databaseURL, "SELECT args FROM river_job WHERE "+kinds
	if path, ok := strings.CutPrefix(databaseURL, "sqlite:"); ok {
		driver, dsn, query = "sqlite", path, "SELECT json(args) FROM river_job WHERE "+kinds
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type message struct {
		OrgID string          `json:"org_id"`
		Body  json.RawMessage `json:"body"` // a batch's: the JSON as a string
	}
	out := map[string][]int64{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var args struct {
			message
			Messages []message `json:"messages"` // a batch's
		}
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			t.Fatal(err)
		}
		msgs := args.Messages
		if msgs == nil {
			msgs = []message{args.message}
		}
		for _, m := range msgs {
			if args.Messages != nil {
				var s string
				if err := json.Unmarshal(m.Body, &s); err != nil {
					t.Fatal(err)
				}
				m.Body = json.RawMessage(s)
			}
			var body struct {
				Data changedEntitlement `json:"data"`
			}
			if err := json.Unmarshal(m.Body, &body); err != nil {
				t.Fatal(err)
			}
			out[m.OrgID] = append(out[m.OrgID], body.Data.Version)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEvents_OperatorRetriesADeadDelivery: a delivery whose retries ran out
// is listed by `billingd events dead`, and `billingd events retry` sends it
// again through the serving billingd.
func TestEvents_OperatorRetriesADeadDelivery(t *testing.T) {
	secret := newEventsSecret(t)
	recv := newEventReceiver(t, secret)
	dbURL := storetest.PostgresURL(t)
	b := launch(t, mergeEnv(eventsEnv(secret, recv), map[string]string{"DATABASE_URL": dbURL}))
	ctx := t.Context()

	// A delivery River discarded after its last attempt, as 3 days of a
	// receiver answering 503 would leave it.
	view := billing.EntitlementView{OrgID: "org_dead", Plan: "pro", Status: billing.StatusActive, Active: true, Seats: 1, Version: 4}
	body, err := outbound.Render(billing.Message{ID: "msg_dead", Type: billing.MessageEntitlementChanged, OrgID: "org_dead", At: time.Now(), Entitlement: &view})
	if err != nil {
		t.Fatal(err)
	}
	args := mustJSON(t, map[string]any{"endpoint": recv.url, "message_id": "msg_dead", "type": "entitlement.changed", "org_id": "org_dead", "body": json.RawMessage(body)})
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var jobID int64
	if err := db.QueryRowContext(ctx, `INSERT INTO river_job (args, kind, max_attempts, attempt, attempted_at, queue, state, finalized_at, errors)
		VALUES ($1, 'event_delivery', 90, 90, now(), 'events', 'discarded', now(),
		ARRAY['{"at":"2026-12-01T00:00:00Z","attempt":90,"error":"outbound: answered 503","trace":""}'::jsonb])
		RETURNING id`, args).Scan(&jobID); err != nil {
		t.Fatal(err)
	}

	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"billingd", "events"}, args...), getenvFrom(b.env), &out, &out)
		return out.String(), err
	}
	out, err := cli("dead")
	if err != nil || !strings.Contains(out, strconv.FormatInt(jobID, 10)) || !strings.Contains(out, "msg_dead") || !strings.Contains(out, "answered 503") {
		t.Fatalf("events dead = %v\n%s\nwant the job, its message and its last error", err, out)
	}
	if _, err := cli("retry", "424242"); err == nil || !strings.Contains(err.Error(), "no such job") {
		t.Fatalf("events retry of an unknown job = %v, want no such job", err)
	}
	if _, err := cli("retry", "x"); err == nil || !strings.Contains(err.Error(), "not a job id") {
		t.Fatalf("events retry x = %v, want not a job id", err)
	}
	if out, err := cli("retry", strconv.FormatInt(jobID, 10)); err != nil || !strings.Contains(out, "queued again") {
		t.Fatalf("events retry = %v\n%s", err, out)
	}
	recv.waitFor(t, "the retried message", func(got []attempt) bool { return len(got) == 1 })
	if got := recv.all()[0]; got.id != "msg_dead" || got.entitlement(t).Version != 4 {
		t.Fatalf("delivered %s %+v, want msg_dead at version 4", got.id, got.entitlement(t))
	}
	if out, err := cli("dead"); err != nil || !strings.Contains(out, "no dead deliveries") {
		t.Fatalf("events dead after the retry = %v\n%s", err, out)
	}
}
