package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// sendWebhook plays Stripe for a paid checkout: it signs and posts
// checkout.session.completed (when -session is given) and
// customer.subscription.created, the way Stripe builds and signs them.
func sendWebhook(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("billingd send-webhook", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", "http://localhost:8080/webhooks/stripe", "billingd's webhook endpoint")
	secret := fs.String("secret", getenv("STRIPE_WEBHOOK_SECRET"), "webhook signing secret (default $STRIPE_WEBHOOK_SECRET)")
	org := fs.String("org", devOrg, "organization id the subscription belongs to")
	session := fs.String("session", "", "Checkout Session id to complete (optional)")
	lookupKey := fs.String("lookup-key", "pro_monthly", "lookup key of the subscribed price")
	status := fs.String("status", string(billing.StatusTrialing), "subscription status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("billingd send-webhook: -secret or STRIPE_WEBHOOK_SECRET is required")
	}
	interval := billing.Month
	if strings.HasSuffix(*lookupKey, "_yearly") {
		interval = billing.Year
	}
	subID := stripeevent.NewID("sub")
	customerID := stripeevent.NewID("cus")
	now := time.Now().Truncate(time.Second)

	var events [][]byte
	if *session != "" {
		events = append(events, stripeevent.CheckoutSessionEvent(
			stripeevent.EventSpec{Type: billing.EventCheckoutCompleted, Created: now},
			stripeevent.CheckoutSessionSpec{ID: *session, OrgID: *org, CustomerID: customerID, SubscriptionID: subID},
		))
	}
	sub := stripeevent.SubscriptionSpec{
		ID: subID, CustomerID: customerID, OrgID: *org, Status: billing.Status(*status),
		LookupKey: *lookupKey, Interval: interval,
	}
	if sub.Status == billing.StatusTrialing {
		sub.TrialEnd = now.AddDate(0, 0, 14)
	}
	events = append(events, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated, Created: now}, sub))

	for _, payload := range events {
		if err := postSigned(ctx, *url, *secret, payload, stdout); err != nil {
			return err
		}
	}
	return nil
}

func postSigned(ctx context.Context, url, secret string, payload []byte, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", stripeevent.Sign(payload, secret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("billingd send-webhook: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, bytes.TrimSpace(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("billingd send-webhook: %s answered %s", url, resp.Status)
	}
	return nil
}
