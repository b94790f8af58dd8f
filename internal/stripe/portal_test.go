package stripe_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/billing"
)

func TestClient_CreatePortalSession(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, rec := mustMockClient(t)
		url, err := c.CreatePortalSession(context.Background(), "cus_123", "https://app.example.com/billing")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(url, "https://") {
			t.Errorf("url = %q, want Stripe's hosted page", url)
		}
		req := rec.only(t)
		req.want(t, "POST", "/v1/billing_portal/sessions")
		req.wantForm(t, map[string]string{
			"customer":   "cus_123",
			"return_url": "https://app.example.com/billing",
		})
	})

	t.Run("ErrUpstream", func(t *testing.T) {
		for name, body := range map[string]string{
			"NoSuchCustomer": `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"customer","message":"No such customer: 'cus_123'"}}`,
			"NoPortalConfig": `{"error":{"type":"invalid_request_error","message":"No configuration provided and your live mode default configuration has not been created."}}`,
		} {
			t.Run(name, func(t *testing.T) {
				var logs bytes.Buffer
				c := fakeStripeClient(t, http.StatusBadRequest, body, &logs)
				_, err := c.CreatePortalSession(context.Background(), "cus_123", "https://app.example.com/billing")
				if got := billing.ErrorCode(err); got != billing.EUpstream {
					t.Fatalf("code = %q (err %v), want %s", got, err, billing.EUpstream)
				}
				assertNoKey(t, err, logs.String())
				if !strings.Contains(logs.String(), "op=create_portal_session") || !strings.Contains(logs.String(), "req_fake") {
					t.Errorf("log names neither the operation nor Stripe's request id: %s", logs.String())
				}
			})
		}
	})
}
