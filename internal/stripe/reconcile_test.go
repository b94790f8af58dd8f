package stripe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

func TestClient_UndeliveredEvents(t *testing.T) {
	c, rec := mustMockClient(t)
	since := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	events, err := c.UndeliveredEvents(context.Background(), since)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[0].ID == "" || events[0].Type == "" {
		t.Errorf("events = %+v, want stripe-mock's fixture event", events)
	}
	req := rec.only(t)
	req.want(t, "GET", "/v1/events")
	req.wantForm(t, map[string]string{
		"delivery_success": "false",
		"created[gte]":     strconv.FormatInt(since.Unix(), 10),
		"limit":            "100",
	})
	var types []string
	for i := 0; ; i++ {
		v := req.Form.Get(fmt.Sprintf("types[%d]", i))
		if v == "" {
			break
		}
		types = append(types, v)
	}
	for _, want := range []string{billing.EventSubscriptionCreated, billing.EventCheckoutCompleted, billing.EventInvoicePaymentFailed} {
		if !strings.Contains(strings.Join(types, ","), want) {
			t.Errorf("types = %v, missing %s", types, want)
		}
	}
	if len(types) > 20 {
		t.Errorf("%d types: Stripe takes at most 20", len(types))
	}
}

func TestClient_CustomerSubscriptions(t *testing.T) {
	c, rec := mustMockClient(t)
	subs, err := c.CustomerSubscriptions(context.Background(), "cus_1")
	if err != nil {
		t.Fatal(err)
	}
	req := rec.only(t)
	req.want(t, "GET", "/v1/subscriptions")
	req.wantForm(t, map[string]string{"customer": "cus_1", "status": "all", "limit": "100"})
	// stripe-mock's basil fixture, read by the same shape as events.
	if len(subs) != 1 || !strings.HasPrefix(subs[0].ID, "sub_") || !strings.HasPrefix(subs[0].PriceID, "price_") ||
		subs[0].CurrentPeriodEnd == nil {
		t.Errorf("subscriptions = %+v", subs)
	}
}

// pagedStripe serves pages of a list the way Stripe does: has_more, then the
// next page after starting_after. It records each request's query.
type pagedStripe struct {
	mu      sync.Mutex
	queries []string
	pages   map[string]string // starting_after ("" for the first) → page JSON
}

func (p *pagedStripe) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.queries = append(p.queries, r.URL.RawQuery)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, p.pages[r.URL.Query().Get("starting_after")])
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClient_ListsFollowEveryPage(t *testing.T) {
	t.Run("subscriptions", func(t *testing.T) {
		p := &pagedStripe{pages: map[string]string{
			"":      `{"object":"list","has_more":true,"data":[{"id":"sub_1","status":"canceled","customer":"cus_1"},{"id":"sub_2","status":"active","customer":"cus_1","cancel_at_period_end":false}]}`,
			"sub_2": `{"object":"list","has_more":false,"data":[{"id":"sub_3","status":"trialing","customer":"cus_1","trial_end":1767225600}]}`,
		}}
		c := stripe.New(stripetest.TestKey, stripe.Options{APIBase: p.start(t), Logger: textLogger(io.Discard)})
		subs, err := c.CustomerSubscriptions(context.Background(), "cus_1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range subs {
			ids = append(ids, s.ID+":"+string(s.Status))
		}
		if got := strings.Join(ids, ","); got != "sub_1:canceled,sub_2:active,sub_3:trialing" {
			t.Errorf("subscriptions = %s", got)
		}
		if subs[2].TrialEnd == nil || subs[1].TrialEnd != nil {
			t.Errorf("trial ends = %v, %v: a null trial_end must stay nil", subs[1].TrialEnd, subs[2].TrialEnd)
		}
		if len(p.queries) != 2 || !strings.Contains(p.queries[1], "starting_after=sub_2") {
			t.Errorf("queries = %q, want a second page after sub_2", p.queries)
		}
	})
	t.Run("events", func(t *testing.T) {
		event := func(id string, created int) string {
			return fmt.Sprintf(`{"id":%q,"object":"event","type":"customer.subscription.created","created":%d,"data":{"object":{"id":"sub_%s","object":"subscription","status":"active","customer":"cus_1"}}}`, id, created, id)
		}
		p := &pagedStripe{pages: map[string]string{
			"":      `{"object":"list","has_more":true,"data":[` + event("evt_3", 300) + `,` + event("evt_2", 200) + `]}`,
			"evt_2": `{"object":"list","has_more":false,"data":[` + event("evt_1", 100) + `]}`,
		}}
		c := stripe.New(stripetest.TestKey, stripe.Options{APIBase: p.start(t), Logger: textLogger(io.Discard)})
		events, err := c.UndeliveredEvents(context.Background(), time.Unix(50, 0))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range events {
			if e.Subscription == nil {
				t.Fatalf("event %s has no subscription", e.ID)
			}
			ids = append(ids, e.ID)
		}
		if got := strings.Join(ids, ","); got != "evt_1,evt_2,evt_3" {
			t.Errorf("events = %s, want all pages, oldest first", got)
		}
	})
}
