package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// The mixed load that made the SQLite default answer "database is locked"
// (SPEC §6): webhook bursts, first checkouts and entitlement polls at once.
const (
	loadWebhookSenders  = 200
	loadCheckoutSenders = 50
	loadPollers         = 64
	loadOrgs            = 32 // orgs the webhooks and polls are about
	// How long the load runs: the old code's writers outwaited SQLite's busy
	// timeout only after a while (at 5 s it passed; at 30 s, 60 answers were 5xx).
	loadDuration     = 30 * time.Second
	loadMaxPerWorker = 5000 // a bound on requests, whatever the speed
)

// TestSQLite_MixedLoadNeverAnswers5xx runs the load against a real billingd on
// a SQLite file with the default DB_TIMEOUT: writers must queue and readers go
// on beside them, so no client ever sees a 5xx.
func TestSQLite_MixedLoadNeverAnswers5xx(t *testing.T) {
	b := launch(t, map[string]string{"POLL_RATE_LIMIT": "off", "CHECKOUT_RATE_LIMIT": "off"})
	client := newClient(t)
	orgs := make([]loadOrg, loadOrgs)
	for i := range orgs {
		org := newOrgID(t)
		token := userToken(t, b.secrets, org)
		orgs[i] = loadOrg{id: org, token: token, session: startCheckout(t, client, b.base, token), sub: stripeevent.NewID("sub")}
	}

	// A plain client: the contract is checked by the other tests, and checking
	// every response here would measure the checker.
	load := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadWebhookSenders + loadCheckoutSenders + loadPollers}}
	defer load.CloseIdleConnections()
	var (
		tally   loadTally
		clock   atomic.Int64 // seconds after first: every event is newer than the ones before
		first   = time.Now().Add(-24 * time.Hour).Truncate(time.Second)
		wg      sync.WaitGroup
		started = time.Now()
		end     = started.Add(loadDuration)
	)
	worker := func(kind string, next func(i int) request) {
		wg.Go(func() {
			for i := 0; i < loadMaxPerWorker && time.Now().Before(end); i++ {
				start := time.Now()
				resp, err := send(load, b.base, next(i))
				tally.add(kind, resp, err, time.Since(start))
			}
		})
	}
	for w := range loadWebhookSenders {
		worker("webhook", func(i int) request {
			o := orgs[(w+i)%len(orgs)]
			created := first.Add(time.Duration(clock.Add(1)) * time.Second)
			status := []billing.Status{billing.StatusActive, billing.StatusPastDue}[i%2]
			payload := stripeevent.SubscriptionEvent(
				stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created},
				stripeevent.SubscriptionSpec{ID: o.sub, OrgID: o.id, Status: status, LookupKey: "pro_monthly"},
			)
			return request{method: http.MethodPost, path: "/webhooks/stripe", body: payload, header: map[string]string{
				"Stripe-Signature": stripeevent.Sign(payload, b.WebhookSecret, time.Now()),
			}}
		})
	}
	for range loadCheckoutSenders {
		worker("checkout", func(int) request {
			// A new org each time: its first checkout writes its row, its
			// Customer and its session.
			return request{method: http.MethodPost, path: "/api/billing/checkout",
				token: userToken(t, b.secrets, newOrgID(t)), body: []byte(`{"plan":"pro"}`)}
		})
	}
	for p := range loadPollers {
		worker("poll", func(i int) request {
			o := orgs[(p+i)%len(orgs)]
			if i%2 == 0 {
				return request{method: http.MethodGet, path: "/api/billing/entitlement?session_id=" + o.session, token: o.token}
			}
			return request{method: http.MethodGet, path: "/api/billing/payments", token: o.token}
		})
	}
	wg.Wait()
	took := time.Since(started)

	t.Logf("%s in %v", tally.String(), took.Round(time.Millisecond))
	if n := tally.serverErrors.Load(); n > 0 {
		t.Errorf("%d responses were 5xx, want none; first: %s", n, tally.firstFailure())
	}
	if n := tally.otherFailures.Load(); n > 0 {
		t.Errorf("%d requests failed otherwise; first: %s", n, tally.firstFailure())
	}
	if t.Failed() {
		t.Logf("logs:\n%s", b.logs)
	}
}

type loadOrg struct{ id, token, session, sub string }

// loadTally counts the load's answers; it is safe for concurrent use.
type loadTally struct {
	mu            sync.Mutex
	byKind        map[string]int
	slowest       map[string]time.Duration
	serverErrors  atomic.Int64
	otherFailures atomic.Int64
	first         string
}

func (l *loadTally) add(kind string, resp response, err error, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKind == nil {
		l.byKind, l.slowest = map[string]int{}, map[string]time.Duration{}
	}
	l.byKind[kind]++
	l.slowest[kind] = max(l.slowest[kind], took)
	var failure string
	switch {
	case err != nil:
		l.otherFailures.Add(1)
		failure = fmt.Sprintf("%s: %v", kind, err)
	case resp.status >= 500:
		l.serverErrors.Add(1)
		failure = fmt.Sprintf("%s: %d %s", kind, resp.status, resp.body)
	case resp.status != http.StatusOK:
		l.otherFailures.Add(1)
		failure = fmt.Sprintf("%s: %d %s", kind, resp.status, resp.body)
	}
	if failure != "" && l.first == "" {
		l.first = failure
	}
}

func (l *loadTally) firstFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

func (l *loadTally) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, n := range l.byKind {
		total += n
	}
	r := func(kind string) time.Duration { return l.slowest[kind].Round(time.Millisecond) }
	return fmt.Sprintf("%d requests (%d webhooks, %d checkouts, %d polls; slowest %v, %v, %v), %d 5xx, %d other failures",
		total, l.byKind["webhook"], l.byKind["checkout"], l.byKind["poll"], r("webhook"), r("checkout"), r("poll"),
		l.serverErrors.Load(), l.otherFailures.Load())
}
