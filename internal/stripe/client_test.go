package stripe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// These tests run every request the adapter makes against stripe-mock, which
// rejects parameters that Stripe's OpenAPI spec does not know, and check the
// parameters that carry billingd's rules on the wire.

func TestClient_CreateCustomer(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, rec := mustMockClient(t)
		id, err := c.CreateCustomer(context.Background(), billing.CustomerParams{
			OrgID: "org_1", Email: "owner@example.com", IdempotencyKey: "customer-org_1",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "cus_") {
			t.Errorf("id = %q, want cus_…", id)
		}
		req := rec.only(t)
		req.want(t, "POST", "/v1/customers")
		req.wantForm(t, map[string]string{
			"metadata[organization_id]": "org_1",
			"email":                     "owner@example.com",
		})
		if got := req.Header.Get("Idempotency-Key"); got != "customer-org_1" {
			t.Errorf("Idempotency-Key = %q, want customer-org_1", got)
		}
	})

	t.Run("NoEmail", func(t *testing.T) {
		c, rec := mustMockClient(t)
		if _, err := c.CreateCustomer(context.Background(), billing.CustomerParams{OrgID: "org_1"}); err != nil {
			t.Fatal(err)
		}
		if req := rec.only(t); req.Form.Has("email") {
			t.Errorf("email sent: %q", req.Form.Get("email"))
		}
	})
}

func TestClient_PriceByLookupKey(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, rec := mustMockClient(t)
		p, err := c.PriceByLookupKey(context.Background(), "pro_monthly")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ID, "price_") || p.LookupKey != "pro_monthly" || p.Interval != billing.Month ||
			p.Currency == "" || p.UnitAmount <= 0 {
			t.Errorf("price = %+v", p)
		}
		req := rec.only(t)
		req.want(t, "GET", "/v1/prices")
		req.wantForm(t, map[string]string{"lookup_keys[0]": "pro_monthly", "active": "true", "limit": "1"})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		c := fakeStripeClient(t, http.StatusOK, `{"object":"list","data":[],"has_more":false,"url":"/v1/prices"}`, nil)
		_, err := c.PriceByLookupKey(context.Background(), "gone_monthly")
		if !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestClient_CreateCheckoutSession(t *testing.T) {
	params := func() billing.CheckoutParams {
		return billing.CheckoutParams{
			OrgID:      "org_1",
			CustomerID: "cus_1",
			PriceID:    "price_1",
			Quantity:   1,
			TrialDays:  14,
			SuccessURL: "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
			CancelURL:  "https://app.example.com/billing",
			Metadata:   map[string]string{"organization_id": "org_1", "campaign": "spring"},
		}
	}

	t.Run("OK", func(t *testing.T) {
		c, rec := mustMockClient(t)
		p := params()
		p.IdempotencyKey = "checkout-1"
		cs, err := c.CreateCheckoutSession(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cs.ID, "cs_") || cs.URL == "" || cs.ExpiresAt.IsZero() {
			t.Errorf("created = %+v", cs)
		}
		req := rec.only(t)
		req.want(t, "POST", "/v1/checkout/sessions")
		req.wantForm(t, map[string]string{
			"mode":                      "subscription",
			"customer":                  "cus_1",
			"client_reference_id":       "org_1",
			"line_items[0][price]":      "price_1",
			"line_items[0][quantity]":   "1",
			"metadata[organization_id]": "org_1",
			"metadata[campaign]":        "spring",
			"subscription_data[metadata][organization_id]": "org_1",
			"subscription_data[metadata][campaign]":        "spring",
			"subscription_data[trial_period_days]":         "14",
			"payment_method_collection":                    "always",
			"allow_promotion_codes":                        "true",
			"billing_address_collection":                   "auto",
			"customer_update[address]":                     "auto",
			"customer_update[name]":                        "auto",
			"success_url":                                  p.SuccessURL,
			"cancel_url":                                   p.CancelURL,
		})
		for _, key := range []string{"automatic_tax[enabled]", "customer_email"} {
			if req.Form.Has(key) {
				t.Errorf("%s sent", key)
			}
		}
		if got := req.Header.Get("Idempotency-Key"); got != "checkout-1" {
			t.Errorf("Idempotency-Key = %q, want checkout-1", got)
		}
	})

	t.Run("NoTrial", func(t *testing.T) {
		c, rec := mustMockClient(t)
		p := params()
		p.TrialDays = 0
		if _, err := c.CreateCheckoutSession(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if req := rec.only(t); req.Form.Has("subscription_data[trial_period_days]") {
			t.Error("trial_period_days sent without a trial")
		}
	})

	t.Run("AutomaticTax", func(t *testing.T) {
		c, rec := mustMockClient(t)
		p := params()
		p.AutomaticTax = true
		if _, err := c.CreateCheckoutSession(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		rec.only(t).wantForm(t, map[string]string{"automatic_tax[enabled]": "true"})
	})

	t.Run("Quantity", func(t *testing.T) {
		c, rec := mustMockClient(t)
		p := params()
		p.Quantity = 5
		if _, err := c.CreateCheckoutSession(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		rec.only(t).wantForm(t, map[string]string{"line_items[0][quantity]": "5"})
	})

	t.Run("MetadataCannotOverrideOrg", func(t *testing.T) {
		c, rec := mustMockClient(t)
		p := params()
		p.Metadata = map[string]string{"organization_id": "org_evil"}
		if _, err := c.CreateCheckoutSession(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		rec.only(t).wantForm(t, map[string]string{
			"metadata[organization_id]":                    "org_1",
			"subscription_data[metadata][organization_id]": "org_1",
		})
		if p.Metadata["organization_id"] != "org_evil" {
			t.Error("caller's metadata map was modified")
		}
	})
}

func TestClient_ExpireCheckoutSession(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, rec := mustMockClient(t)
		if err := c.ExpireCheckoutSession(context.Background(), "cs_test_1"); err != nil {
			t.Fatal(err)
		}
		rec.only(t).want(t, "POST", "/v1/checkout/sessions/cs_test_1/expire")
	})

	t.Run("NotOpen", func(t *testing.T) {
		c := fakeStripeClient(t, http.StatusBadRequest, `{"error":{"type":"invalid_request_error",
			"message":"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of `+"`complete`"+`."}}`, nil)
		if err := c.ExpireCheckoutSession(context.Background(), "cs_test_1"); err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		c := fakeStripeClient(t, http.StatusNotFound, resourceMissing, nil)
		if err := c.ExpireCheckoutSession(context.Background(), "cs_test_1"); err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
	})

	t.Run("ErrUpstream", func(t *testing.T) {
		c := fakeStripeClient(t, http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"Invalid string: cs_test_1"}}`, nil)
		if err := c.ExpireCheckoutSession(context.Background(), "cs_test_1"); billing.ErrorCode(err) != billing.EUpstream {
			t.Fatalf("err = %v, want %s", err, billing.EUpstream)
		}
	})
}

func TestClient_Subscription(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, rec := mustMockClient(t)
		sub, err := c.Subscription(context.Background(), "sub_1")
		if err != nil {
			t.Fatal(err)
		}
		rec.only(t).want(t, "GET", "/v1/subscriptions/sub_1")
		// stripe-mock answers with a basil fixture: the period end is on the item.
		if sub.ID != "sub_1" || !strings.HasPrefix(sub.CustomerID, "cus_") || sub.Status == "" ||
			!strings.HasPrefix(sub.PriceID, "price_") || sub.Interval != billing.Month || sub.Quantity != 1 ||
			sub.CurrentPeriodEnd == nil {
			t.Errorf("subscription = %+v", sub)
		}
	})

	t.Run("ErrUpstreamUnreadable", func(t *testing.T) {
		c := fakeStripeClient(t, http.StatusOK, `{"object":"subscription"}`, nil)
		_, err := c.Subscription(context.Background(), "sub_1")
		if got := billing.ErrorCode(err); got != billing.EUpstream {
			t.Fatalf("code = %q (err %v), want %s", got, err, billing.EUpstream)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		c := fakeStripeClient(t, http.StatusNotFound, resourceMissing, nil)
		_, err := c.Subscription(context.Background(), "sub_gone")
		if !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestClient_ErrUpstream(t *testing.T) {
	calls := map[string]func(*stripe.Client) error{
		"CreateCustomer": func(c *stripe.Client) error {
			_, err := c.CreateCustomer(context.Background(), billing.CustomerParams{OrgID: "org_1"})
			return err
		},
		"PriceByLookupKey": func(c *stripe.Client) error {
			_, err := c.PriceByLookupKey(context.Background(), "pro_monthly")
			return err
		},
		"CreateCheckoutSession": func(c *stripe.Client) error {
			_, err := c.CreateCheckoutSession(context.Background(), billing.CheckoutParams{OrgID: "org_1"})
			return err
		},
		"ExpireCheckoutSession": func(c *stripe.Client) error {
			return c.ExpireCheckoutSession(context.Background(), "cs_1")
		},
		"Subscription": func(c *stripe.Client) error {
			_, err := c.Subscription(context.Background(), "sub_1")
			return err
		},
	}
	answers := map[string]struct {
		status int
		body   string
	}{
		"APIError":  {http.StatusInternalServerError, `{"error":{"type":"api_error","message":"Something went wrong"}}`},
		"CardError": {http.StatusPaymentRequired, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`},
		"AuthError": {http.StatusUnauthorized, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****ilng"}}`},
		"NotJSON":   {http.StatusBadGateway, `<html>Bad gateway</html>`},
		// stripe-mock (and some proxies) echo the whole key back.
		"EchoesKey": {http.StatusUnauthorized, `{"error":{"type":"invalid_request_error","message":"Authorization was 'Bearer ` + stripetest.TestKey + `'."}}`},
	}
	for callName, call := range calls {
		for answerName, a := range answers {
			t.Run(callName+"/"+answerName, func(t *testing.T) {
				t.Parallel() // stripe-go retries a non-JSON 502 twice, with backoff
				var logs bytes.Buffer
				c := fakeStripeClient(t, a.status, a.body, &logs)
				err := call(c)
				if got := billing.ErrorCode(err); got != billing.EUpstream {
					t.Fatalf("code = %q (err %v), want %s", got, err, billing.EUpstream)
				}
				assertNoKey(t, err, logs.String())
				if !strings.Contains(logs.String(), "req_fake") && answerName != "NotJSON" {
					t.Errorf("log has no Stripe request id: %s", logs.String())
				}
			})
		}
	}

	t.Run("Network", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // nothing listens any more
		var logs bytes.Buffer
		c := stripe.New(stripetest.TestKey, stripe.Options{APIBase: srv.URL, Logger: textLogger(&logs)})
		_, err := c.Subscription(context.Background(), "sub_1")
		if got := billing.ErrorCode(err); got != billing.EUpstream {
			t.Fatalf("code = %q (err %v), want %s", got, err, billing.EUpstream)
		}
		assertNoKey(t, err, logs.String())
	})

	t.Run("CanceledIsNotUpstream", func(t *testing.T) {
		c, _ := mustMockClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Subscription(ctx, "sub_1")
		if !errors.Is(err, context.Canceled) || billing.ErrorCode(err) == billing.EUpstream {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

const resourceMissing = `{"error":{"type":"invalid_request_error","code":"resource_missing",
	"param":"id","message":"No such object: 'x_1'"}}`

// assertNoKey checks that the client-facing message names no key at all and
// that the error and the logs do not carry the client's key (Stripe's own
// messages may name a masked one, "sk_test_****abcd").
func assertNoKey(t *testing.T, err error, logs string) {
	t.Helper()
	if msg := billing.ErrorMessage(err); strings.Contains(msg, "sk_") {
		t.Errorf("client message mentions a key: %s", msg)
	}
	for _, s := range []string{err.Error(), logs} {
		if strings.Contains(s, stripetest.TestKey) {
			t.Errorf("text carries the secret key: %s", s)
		}
	}
}

// mustMockClient returns a Client talking to stripe-mock through a recorder.
func mustMockClient(t *testing.T) (*stripe.Client, *recorder) {
	t.Helper()
	rec := &recorder{next: http.DefaultTransport}
	c := stripe.New(stripetest.TestKey, stripe.Options{
		APIBase:    stripetest.StartMock(t),
		HTTPClient: &http.Client{Transport: rec},
		Logger:     textLogger(io.Discard),
	})
	return c, rec
}

// fakeStripeClient returns a Client talking to a server that answers every
// request with status and body, as Stripe does (with a Request-Id).
func fakeStripeClient(t *testing.T, status int, body string, logs io.Writer) *stripe.Client {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	return stripe.New(stripetest.TestKey, stripe.Options{APIBase: fakeStripeServer(t, status, body), Logger: textLogger(logs)})
}

// fakeStripeServer answers every request with status and body and the
// Request-Id req_fake, and returns its URL.
func fakeStripeServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_fake")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func textLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// recorder is an http.RoundTripper that keeps each request's parameters.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	Method string
	Path   string
	Header http.Header
	// Form holds the query of a GET and the form body of a POST.
	Form url.Values
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	rr := recordedRequest{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Form: req.URL.Query()}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > 0 {
			if rr.Form, err = url.ParseQuery(string(body)); err != nil {
				return nil, err
			}
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rr)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// only returns the single request made.
func (r *recorder) only(t *testing.T) recordedRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) != 1 {
		t.Fatalf("%d requests made, want 1", len(r.reqs))
	}
	return r.reqs[0]
}

func (rr recordedRequest) want(t *testing.T, method, path string) {
	t.Helper()
	if rr.Method != method || rr.Path != path {
		t.Errorf("request = %s %s, want %s %s", rr.Method, rr.Path, method, path)
	}
}

func (rr recordedRequest) wantForm(t *testing.T, want map[string]string) {
	t.Helper()
	for key, v := range want {
		if got := rr.Form[key]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
}
