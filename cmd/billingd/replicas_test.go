package main

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// crossReplicaWakeBudget is how soon after a webhook's 200 on one replica a
// long-poll on another must answer (issue 3).
const crossReplicaWakeBudget = 100 * time.Millisecond

// TestReplicas_ShareOnePostgreSQL runs the scale-out story with real
// processes: three replicas start at the same moment on an empty database
// (migrations must serialise), then a webhook to one replica wakes long-polls
// held on the two others.
func TestReplicas_ShareOnePostgreSQL(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	env := baseEnv(t, 0)
	env["DATABASE_URL"] = dbURL
	env["STRIPE_API_BASE"] = stripetest.StartMock(t)
	sec := secrets{WebhookSecret: env["STRIPE_WEBHOOK_SECRET"], JWTSecret: env["AUTH_JWT_SECRET"]}

	replicas := make([]*process, 3)
	for i := range replicas {
		replicas[i] = startProcess(t, replicaEnv(env, freePort(t)))
	}
	for _, r := range replicas {
		r.waitReady(t)
	}
	t.Run("MigrationsAppliedOnceUnderConcurrentStarts", func(t *testing.T) {
		expectMigrationsAppliedOnce(t, dbURL)
	})

	t.Run("WebhookOnOneReplicaWakesPollsOnTheOthers", func(t *testing.T) {
		client := newClient(t)
		writer, pollers := replicas[0], replicas[1:]
		org := newOrgID(t)
		token := userToken(t, sec, org)
		// The org row exists once it has checked out (reads never write).
		expect[checkoutCreated](t, mustSend(t, client, writer.base, request{
			method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
		}), http.StatusOK)

		subID, customerID := stripeevent.NewID("sub"), stripeevent.NewID("cus")
		first := time.Now().Add(-time.Hour).Truncate(time.Second)
		statuses := []billing.Status{billing.StatusActive, billing.StatusPastDue}
		var worst time.Duration
		for i := range 6 {
			status := statuses[i%len(statuses)]
			tag := mustSend(t, client, pollers[0].base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: token}).header.Get("ETag")
			polls := startPolls(t, client, pollers, token, tag)

			event := stripeevent.SubscriptionEvent(
				stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: first.Add(time.Duration(i) * time.Second)},
				stripeevent.SubscriptionSpec{ID: subID, CustomerID: customerID, OrgID: org, Status: status, LookupKey: "pro_monthly"},
			)
			resp := postWebhook(t, client, writer.base, sec.WebhookSecret, event)
			webhookAt := time.Now()
			expectReceipt(t, resp, false)

			for j, p := range polls.wait(t) {
				lag := p.at.Sub(webhookAt)
				worst = max(worst, lag)
				if lag > crossReplicaWakeBudget {
					t.Errorf("event %d: poll on replica %d answered %v after the webhook's 200, want < %v", i, j+1, lag, crossReplicaWakeBudget)
				}
				ent := expect[entitlement](t, p.resp, http.StatusOK).Data
				if ent.Plan != "pro" || ent.Status != string(status) {
					t.Errorf("event %d: poll on replica %d saw %s/%s, want pro/%s", i, j+1, ent.Plan, ent.Status, status)
				}
			}
		}
		t.Logf("worst cross-replica wake-up after the webhook's 200: %v", worst)
	})

	for _, r := range replicas {
		r.stop(t)
	}
}

// heldPolls are long-polls started on several replicas at once.
type heldPolls struct {
	wg      sync.WaitGroup
	results []polledResponse
}

type polledResponse struct {
	resp response
	at   time.Time
}

// startPolls starts one long-poll per replica, each waiting for the
// entitlement to differ from tag, and returns once they are parked.
func startPolls(t *testing.T, client *http.Client, on []*process, token, tag string) *heldPolls {
	t.Helper()
	h := &heldPolls{results: make([]polledResponse, len(on))}
	for i, r := range on {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			resp, err := send(client, r.base, request{
				method: http.MethodGet, path: "/api/billing/entitlement?wait=" + strconv.Itoa(longPollWait),
				token: token, header: map[string]string{"If-None-Match": tag},
			})
			if err != nil {
				t.Errorf("long-poll on %s: %v", r, err)
			}
			h.results[i] = polledResponse{resp: resp, at: time.Now()}
		}()
	}
	time.Sleep(longPollSettle)
	return h
}

// wait returns every poll's response, failing if one is still held after
// longPollTimeout.
func (h *heldPolls) wait(t *testing.T) []polledResponse {
	t.Helper()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(longPollTimeout):
		t.Fatalf("a long-poll was still held %v after the webhook's 200", longPollTimeout)
	}
	return h.results
}

// expectMigrationsAppliedOnce checks goose's version table: every migration
// recorded exactly once, however many replicas raced to apply it.
func expectMigrationsAppliedOnce(t *testing.T, dbURL string) {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version_id, count(*) FROM goose_db_version WHERE version_id > 0 GROUP BY version_id`)
	if err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	defer rows.Close()
	versions := 0
	for rows.Next() {
		var version, count int64
		if err := rows.Scan(&version, &count); err != nil {
			t.Fatal(err)
		}
		versions++
		if count != 1 {
			t.Errorf("migration %d recorded %d times, want once", version, count)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if versions == 0 {
		t.Fatal("no migration recorded")
	}
}
