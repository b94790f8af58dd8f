package devmode_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/billingd/billingd/internal/browsertest"
)

// The dev pages in a real browser, against a fake billingd on another origin:
// what a frontend team sees when it reads them as the reference client.

const (
	fakeToken   = "header.payload.signature"
	fakeSession = "cs_test_fake1"
)

// fakeAPI answers the endpoints the pages call, in billingd's envelope and
// with billingd's CORS headers (unless noCORS), and records what it was sent.
type fakeAPI struct {
	t      *testing.T
	noCORS bool
	// refuseCheckout answers POST /api/billing/checkout with 409 ALREADY_SUBSCRIBED.
	refuseCheckout bool
	// pollFailures are statuses (503, 429) the success page's polls get first.
	pollFailures []int
	expired      bool // the session expires instead of being paid

	mu       sync.Mutex
	paid     bool
	checkout map[string]string // body of POST /api/billing/checkout
	polls    int
}

func (f *fakeAPI) start() string {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !f.noCORS {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "ETag, X-Request-Id, Retry-After")
		w.Header().Set("Vary", "Origin")
	}
	if r.Method == http.MethodOptions { // the preflight a bearer token causes
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		f.fail(w, http.StatusUnauthorized, "UNAUTHORIZED", "Authentication required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch route := r.Method + " " + r.URL.Path; {
	case route == "GET /api/billing/entitlement" && r.URL.Query().Get("session_id") != "":
		f.poll(w, r)
	case route == "GET /api/billing/entitlement":
		f.ok(w, map[string]any{"organizationId": "org_fake", "plan": "free", "status": "none", "active": false})
	case route == "POST /api/billing/checkout" && f.refuseCheckout:
		f.fail(w, http.StatusConflict, "ALREADY_SUBSCRIBED",
			"Organization already has an active pro subscription; change it in the Customer Portal")
	case route == "POST /api/billing/checkout":
		json.NewDecoder(r.Body).Decode(&f.checkout)
		f.ok(w, map[string]any{"sessionId": fakeSession, "url": "https://checkout.stripe.com/c/pay/" + fakeSession})
	case route == "GET /api/billing/checkout/"+fakeSession:
		f.ok(w, map[string]any{"sessionId": fakeSession, "status": "open", "plan": "pro", "interval": "month"})
	case route == "POST /dev/api/pay":
		var body struct{ SessionID string }
		json.NewDecoder(r.Body).Decode(&body)
		if body.SessionID != fakeSession {
			f.fail(w, http.StatusNotFound, "NOT_FOUND", "Checkout session not found")
			return
		}
		f.paid = true
		f.ok(w, map[string]any{"events": []map[string]any{
			{"type": "checkout.session.completed", "eventId": "evt_1", "status": 200, "outcome": "applied"},
			{"type": "customer.subscription.created", "eventId": "evt_2", "status": 200, "outcome": "applied"},
		}})
	default:
		f.fail(w, http.StatusNotFound, "NOT_FOUND", "No route "+route)
	}
}

// poll answers the success page's long-poll: the scripted failures first,
// then held a moment (as billingd holds it) until paid or expired.
func (f *fakeAPI) poll(w http.ResponseWriter, r *http.Request) {
	f.polls++
	if r.URL.Query().Get("wait") != "20" {
		f.t.Errorf("the success page polls with wait=%q, want 20", r.URL.Query().Get("wait"))
	}
	if len(f.pollFailures) > 0 {
		status := f.pollFailures[0]
		f.pollFailures = f.pollFailures[1:]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		f.fail(w, status, "FAKE_"+strconv.Itoa(status), "try again")
		return
	}
	if !f.paid && !f.expired {
		f.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		f.mu.Lock()
	}
	checkout := map[string]any{"sessionId": fakeSession, "status": "open", "ready": false}
	plan := "free"
	switch {
	case f.expired:
		checkout["status"] = "expired"
	case f.paid:
		checkout["status"], checkout["ready"], plan = "complete", true, "pro"
	}
	f.ok(w, map[string]any{"organizationId": "org_fake", "plan": plan, "status": "trialing", "active": plan != "free", "checkout": checkout})
}

func (f *fakeAPI) ok(w http.ResponseWriter, data any) {
	writeEnvelope(w, http.StatusOK, map[string]any{"success": true, "data": data})
}

func (f *fakeAPI) fail(w http.ResponseWriter, status int, code, message string) {
	writeEnvelope(w, status, map[string]any{"success": false,
		"error": map[string]string{"code": code, "message": message, "requestId": "req_fake"}})
}

// devPage is a dev page open in a browser, talking to a fake API.
type devPage struct {
	ctx        context.Context
	pages, api string // base URLs of the pages' server and of the API
}

// openDevPage serves the pages and api on two origins and opens page (a path
// below /dev/, with its query if any) the way a developer does: with ?api=
// and #token=.
func openDevPage(t *testing.T, api *fakeAPI, page string) devPage {
	t.Helper()
	p := devPage{api: api.start(), pages: servePages(t).URL, ctx: browsertest.New(t)}
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	p.do(t, chromedp.Navigate(p.pages+"/dev/"+page+sep+"api="+p.api+"#token="+fakeToken))
	return p
}

func (p devPage) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func (p devPage) waitText(t *testing.T, selector, want string) string {
	t.Helper()
	return browsertest.WaitText(t, p.ctx, selector, want)
}

func TestPages_InBrowser(t *testing.T) {
	t.Run("UpgradePayFinalize", func(t *testing.T) {
		api := &fakeAPI{t: t, pollFailures: []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}}
		p := openDevPage(t, api, "")

		p.waitText(t, "#plan", "Current plan: free (organization org_fake)")
		if loc, _ := chromedp.Run(p.ctx, chromedp.Location()); strings.Contains(loc, fakeToken) {
			t.Errorf("the token stays in the address bar: %s", loc)
		}
		p.do(t, chromedp.Click(chromedp.ID("upgrade")))
		// pay.html gets neither ?api nor #token: sessionStorage carries them.
		p.waitText(t, "#checkout", "Plan: pro, billed every month")
		p.do(t, chromedp.Click(chromedp.ID("pay")))
		p.waitText(t, "#status", "You're on Pro")

		api.mu.Lock()
		defer api.mu.Unlock()
		want := map[string]string{
			"plan":       "pro",
			"successUrl": p.pages + "/dev/success.html?session_id={CHECKOUT_SESSION_ID}",
			"cancelUrl":  p.pages + "/dev/index.html",
		}
		for k, v := range want {
			if api.checkout[k] != v {
				t.Errorf("checkout %s = %q, want %q", k, api.checkout[k], v)
			}
		}
		if api.polls < 3 {
			t.Errorf("%d polls, want the 503 and the 429 retried before the answer", api.polls)
		}
	})

	t.Run("SuccessShowsFinalizingThenExpired", func(t *testing.T) {
		api := &fakeAPI{t: t, expired: true, pollFailures: []int{http.StatusServiceUnavailable}}
		p := openDevPage(t, api, "success.html?session_id="+fakeSession)

		p.waitText(t, "#status", "Finalizing…") // while the 503 is retried
		p.waitText(t, "#status", "This checkout expired")
	})

	t.Run("ErrorMessageOfTheEnvelope", func(t *testing.T) {
		p := openDevPage(t, &fakeAPI{t: t, refuseCheckout: true}, "")

		p.waitText(t, "#plan", "Current plan: free")
		p.do(t, chromedp.Click(chromedp.ID("upgrade")))
		p.waitText(t, "#status", "Organization already has an active pro subscription")
	})

	t.Run("BlockedByCORS", func(t *testing.T) {
		p := openDevPage(t, &fakeAPI{t: t, noCORS: true}, "")

		status := p.waitText(t, "#status", "could not be reached, or the browser blocked the call")
		for _, want := range []string{p.api, "CORS_ALLOWED_ORIGINS", p.pages} {
			if !strings.Contains(status, want) {
				t.Errorf("#status %q does not name %q", status, want)
			}
		}
	})
}
