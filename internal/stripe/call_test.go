package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// observed is one call of Options.Observe.
type observed struct {
	op  string
	d   time.Duration
	err error
}

// observer records Options.Observe calls.
type observer struct {
	mu    sync.Mutex
	calls []observed
}

func (o *observer) observe(op string, d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, observed{op, d, err})
}

func (o *observer) ops() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ops []string
	for _, c := range o.calls {
		ops = append(ops, c.op)
	}
	return ops
}

// observedFakeClient is a Client against a server answering status and body
// with Request-Id req_fake, logging JSON at debug to logs.
func observedFakeClient(t *testing.T, status int, body string, logs io.Writer) (*stripe.Client, *observer) {
	t.Helper()
	obs := &observer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return stripe.New(stripetest.TestKey, stripe.Options{APIBase: fakeStripeServer(t, status, body), Logger: log, Observe: obs.observe}), obs
}

// onlyLogLine decodes the single JSON record in logs.
func onlyLogLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), logs)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestClient_ObservesAndLogsEveryCall(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		var logs bytes.Buffer
		c, obs := observedFakeClient(t, http.StatusOK, `{"id":"cus_1","object":"customer"}`, &logs)
		if _, err := c.CreateCustomer(context.Background(), billing.CustomerParams{OrgID: "org_1"}); err != nil {
			t.Fatal(err)
		}
		if len(obs.calls) != 1 || obs.calls[0].op != "create_customer" || obs.calls[0].err != nil || obs.calls[0].d <= 0 {
			t.Fatalf("observed %+v, want one create_customer without error", obs.calls)
		}
		rec := onlyLogLine(t, logs.String())
		if rec["level"] != "DEBUG" || rec["op"] != "create_customer" || rec["stripe_request_id"] != "req_fake" || rec["duration_ms"] == nil {
			t.Errorf("log record = %v, want DEBUG with op, stripe_request_id req_fake and duration_ms", rec)
		}
	})

	t.Run("Failed", func(t *testing.T) {
		var logs bytes.Buffer
		c, obs := observedFakeClient(t, http.StatusPaymentRequired,
			`{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`, &logs)
		_, err := c.CreateCheckoutSession(context.Background(), billing.CheckoutParams{OrgID: "org_1"})
		if billing.ErrorCode(err) != billing.EUpstream {
			t.Fatalf("err = %v, want EUpstream", err)
		}
		if len(obs.calls) != 1 || obs.calls[0].op != "create_checkout_session" || obs.calls[0].err == nil {
			t.Fatalf("observed %+v, want one create_checkout_session with its error", obs.calls)
		}
		rec := onlyLogLine(t, logs.String())
		if rec["level"] != "WARN" || rec["op"] != "create_checkout_session" || rec["stripe_request_id"] != "req_fake" || rec["duration_ms"] == nil {
			t.Errorf("log record = %v, want WARN with op, stripe_request_id req_fake and duration_ms", rec)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		var logs bytes.Buffer
		c, obs := observedFakeClient(t, http.StatusOK, `{}`, &logs)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Subscription(ctx, "sub_1")
		if len(obs.calls) != 1 || !errors.Is(obs.calls[0].err, context.Canceled) || !errors.Is(err, context.Canceled) {
			t.Fatalf("observed %+v (err %v), want one call with context.Canceled", obs.calls, err)
		}
	})

	t.Run("EveryOperation", func(t *testing.T) {
		obs := &observer{}
		c := stripe.New(stripetest.TestKey, stripe.Options{
			APIBase: stripetest.StartMock(t), Logger: slog.New(slog.DiscardHandler), Observe: obs.observe,
		})
		ctx := context.Background()
		_, _ = c.CreateCustomer(ctx, billing.CustomerParams{OrgID: "org_1"})
		_, _ = c.PriceByLookupKey(ctx, "pro_monthly")
		_, _ = c.CreateCheckoutSession(ctx, billing.CheckoutParams{
			OrgID: "org_1", CustomerID: "cus_1", PriceID: "price_1",
			SuccessURL: "https://app.example.com/ok", CancelURL: "https://app.example.com/no",
		})
		_ = c.ExpireCheckoutSession(ctx, "cs_1")
		_, _ = c.Subscription(ctx, "sub_1")
		got := strings.Join(obs.ops(), " ")
		want := "create_customer list_prices create_checkout_session expire_checkout_session retrieve_subscription"
		if got != want {
			t.Errorf("observed operations %q, want %q", got, want)
		}
	})
}
