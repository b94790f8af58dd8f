package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/billingd/billingd/internal/browsertest"
	"github.com/billingd/billingd/internal/devmode"
)

// servePages serves the dev pages at /dev/ from an origin of their own, as a
// frontend team's server would: not billingd's.
func servePages(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/dev/", http.StripPrefix("/dev", devmode.Pages()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowser_CheckoutAcrossOrigins is what a frontend team does: a page on
// its own origin calls billingd in dev mode through CORS, in headless
// Chromium. Upgrade → Pay (dev mode signs and sends the webhooks Stripe would)
// → the success page long-polls until "You're on Pro". A page on an origin
// billingd does not allow is blocked by the browser itself.
func TestBrowser_CheckoutAcrossOrigins(t *testing.T) {
	allowed, disallowed := servePages(t), servePages(t)
	d := startDev(t, filepath.Join(t.TempDir(), "dev"), map[string]string{
		"CORS_ALLOWED_ORIGINS": allowed, "ALLOWED_REDIRECT_ORIGINS": allowed,
	})
	open := func(t *testing.T, pages, token string) ctxPage {
		t.Helper()
		p := ctxPage{ctx: browsertest.New(t)}
		p.do(t, chromedp.Navigate(pages+"/dev/?api="+d.base+"#token="+token))
		return p
	}

	t.Run("AllowedOriginUpgradesToPro", func(t *testing.T) {
		p := open(t, allowed, d.token)
		browsertest.WaitText(t, p.ctx, "#plan", "Current plan: free (organization "+d.org+")")
		p.do(t, chromedp.Click(chromedp.ID("upgrade")))
		browsertest.WaitText(t, p.ctx, "#checkout", "Plan: pro")
		p.do(t, chromedp.Click(chromedp.ID("pay")))
		browsertest.WaitText(t, p.ctx, "#status", "You're on Pro")

		if ent := d.entitlement(t, d.token); ent.Plan != "pro" || !ent.Active {
			t.Fatalf("after the browser flow the entitlement is %+v, want pro", ent)
		}
	})

	t.Run("DisallowedOriginIsBlockedByTheBrowser", func(t *testing.T) {
		token := d.mintToken(t, "org_blocked")
		p := open(t, disallowed, token)
		status := browsertest.WaitText(t, p.ctx, "#status", "the browser blocked the call")
		if !strings.Contains(status, "CORS_ALLOWED_ORIGINS") {
			t.Errorf("#status = %q, want it to point at CORS_ALLOWED_ORIGINS", status)
		}
		p.do(t, chromedp.Click(chromedp.ID("upgrade")))
		browsertest.WaitText(t, p.ctx, "#status", "the browser blocked the call")
		// The preflight was refused, so the checkout never reached billingd:
		// the org has no Stripe Customer, hence no portal.
		resp := mustSend(t, newClient(t), d.base, request{method: http.MethodPost, path: "/api/billing/portal", token: token, body: []byte(`{}`)})
		expectError(t, resp, http.StatusNotFound, "NOT_FOUND")
	})
}

type ctxPage struct{ ctx context.Context }

func (p ctxPage) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}
