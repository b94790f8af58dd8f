package devmode_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/devmode"
	"github.com/billingd/billingd/internal/stripe"
)

func TestSend(t *testing.T) {
	payload := devmode.PaidCheckout{OrgID: "org_a"}.Events()[0]
	evID := parse(t, payload).ID

	tests := []struct {
		name   string
		status int
		answer string
		want   devmode.Delivery
	}{
		{"Applied", 200, `{"success":true,"data":{"eventId":"` + evID + `","duplicate":false,"outcome":"applied"}}`,
			devmode.Delivery{Status: 200, Outcome: "applied"}},
		{"UnknownOrg", 200, `{"success":true,"data":{"eventId":"` + evID + `","duplicate":false,"outcome":"unknown_org"}}`,
			devmode.Delivery{Status: 200, Outcome: "unknown_org"}},
		{"DuplicateWithoutOutcome", 200, `{"success":true,"data":{"eventId":"` + evID + `","duplicate":true}}`,
			devmode.Delivery{Status: 200, Outcome: "duplicate"}},
		{"NoOutcome", 200, `{"success":true,"data":{"eventId":"` + evID + `","duplicate":false}}`,
			devmode.Delivery{Status: 200}},
		{"ErrorEnvelope", 400, `{"success":false,"error":{"code":"BAD_SIGNATURE","message":"Invalid Stripe signature","requestId":"r"}}`,
			devmode.Delivery{Status: 400, Message: "Invalid Stripe signature"}},
		{"NotAnEnvelope", 404, "404 page not found\n", devmode.Delivery{Status: 404, Message: "404 page not found"}},
		{"EmptyAnswer", 502, "", devmode.Delivery{Status: 502, Message: "Bad Gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if _, err := stripe.ParseEvent(body, r.Header.Get("Stripe-Signature"), webhookSecret); err != nil {
					t.Errorf("the delivery does not verify as Stripe's: %v", err)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.answer)
			}))
			defer srv.Close()

			got, err := devmode.Send(context.Background(), srv.Client(), srv.URL, webhookSecret, payload)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			tt.want.Type, tt.want.EventID = billing.EventSubscriptionCreated, evID
			if got != tt.want {
				t.Errorf("Delivery = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("ErrUnreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := devmode.Send(ctx, nil, srv.URL, webhookSecret, payload); err == nil {
			t.Fatal("Send to a closed server: no error")
		}
	})
}
