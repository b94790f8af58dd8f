package main

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billingd/billingd/api/apitest"
	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// The success page, written the obvious way: one long-poll with its session
// id and no ETag. Stripe completes the session, then 300 ms later sends the
// subscription; the poll must answer once, with ready: true.
func TestEndToEnd_SuccessPagePoll(t *testing.T) {
	onEachDatabase(t, testSuccessPagePoll)
}

func testSuccessPagePoll(t *testing.T, extraEnv map[string]string) {
	base, sec := startBillingd(t, extraEnv)
	client := newClient(t)
	org := newOrgID(t)
	token := userToken(t, sec, org)
	sessionID := startCheckout(t, client, base, token)

	type polled struct {
		resp response
		err  error
		at   time.Time
	}
	answers := make(chan polled, 2)
	go func() {
		r, err := send(client, base, request{
			method: http.MethodGet, token: token,
			path: "/api/billing/entitlement?session_id=" + sessionID + "&wait=" + strconv.Itoa(longPollWait),
		})
		answers <- polled{r, err, time.Now()}
	}()
	time.Sleep(longPollSettle)

	subID, customerID := stripeevent.NewID("sub"), stripeevent.NewID("cus")
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, stripeevent.CheckoutSessionEvent(
		stripeevent.EventSpec{Type: billing.EventCheckoutCompleted},
		stripeevent.CheckoutSessionSpec{ID: sessionID, OrgID: org, CustomerID: customerID, SubscriptionID: subID},
	)), false)
	time.Sleep(300 * time.Millisecond)
	expectReceipt(t, postWebhook(t, client, base, sec.WebhookSecret, stripeevent.SubscriptionEvent(
		stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{ID: subID, CustomerID: customerID, OrgID: org, Status: billing.StatusTrialing,
			LookupKey: "pro_monthly", TrialEnd: time.Now().AddDate(0, 0, 14)},
	)), false)
	subscribedAt := time.Now()

	var p polled
	select {
	case p = <-answers:
	case <-time.After(longPollTimeout):
		t.Fatalf("success-page poll still held %v after the subscription arrived", longPollTimeout)
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	if p.at.Before(subscribedAt.Add(-maxLongPollLag)) {
		t.Fatalf("the poll answered before the subscription arrived (%v early)", subscribedAt.Sub(p.at))
	}
	ent := expect[entitlement](t, p.resp, http.StatusOK).Data
	if ent.Plan != "pro" || ent.Checkout == nil || !ent.Checkout.Ready || ent.Checkout.Status != "complete" {
		t.Fatalf("the poll answered %+v (checkout %+v), want pro with the checkout complete and ready", ent, ent.Checkout)
	}
}

// A backend service checks entitlements on its hot path: under the default
// configuration a burst of 2,000 reads with its token gets no 429, while a
// user token is still limited by POLL_RATE_LIMIT.
func TestEndToEnd_ServiceBurstUnderDefaults(t *testing.T) {
	base, sec := startBillingd(t, nil) // POLL_RATE_LIMIT and SERVICE_RATE_LIMIT unset
	// Its own connections, closed before billingd stops: a connection dialed
	// but never used would hold up billingd's graceful shutdown.
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	defer transport.CloseIdleConnections()
	client := apitest.NewValidatingClient(t, transport)
	service := signToken(t, sec, map[string]any{"sub": "svc_api", "scope": auth.ScopeBillingRead})
	orgs := make([]string, 20)
	for i := range orgs {
		orgs[i] = newOrgID(t)
	}

	const reads, workers = 2000, 16
	var next, refused, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= reads; i = next.Add(1) {
				r, err := send(client, base, request{method: http.MethodGet, token: service,
					path: "/api/billing/entitlement?org_id=" + orgs[i%int64(len(orgs))]})
				switch {
				case err != nil || (r.status != http.StatusOK && r.status != http.StatusTooManyRequests):
					failed.Add(1)
				case r.status == http.StatusTooManyRequests:
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 0 || failed.Load() != 0 {
		t.Fatalf("%d of %d service reads got 429 and %d failed otherwise; want all 200", refused.Load(), reads, failed.Load())
	}

	user := userToken(t, sec, newOrgID(t))
	for i := 1; i <= reads; i++ {
		resp := mustSend(t, client, base, request{method: http.MethodGet, path: "/api/billing/entitlement", token: user})
		if resp.status == http.StatusTooManyRequests {
			t.Logf("the user token was limited at read %d", i)
			return
		}
	}
	t.Fatalf("%d reads with one user token in a burst got no 429: POLL_RATE_LIMIT (600/1m) is not on by default", reads)
}
