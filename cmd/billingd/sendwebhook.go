package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/devmode"
)

// sendWebhookTimeout bounds each delivery, so that a billingd that hangs does
// not hang the command.
const sendWebhookTimeout = 30 * time.Second

// sendWebhookFlags is what send-webhook was asked to send, and where.
type sendWebhookFlags struct {
	url, secret, org, session, lookupKey, status string
}

// sendWebhook plays Stripe for a paid checkout: it signs and posts
// checkout.session.completed (when -session is given) and
// customer.subscription.created, the way Stripe builds and signs them, and
// prints what billingd did with each.
func sendWebhook(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f, err := parseSendWebhookFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	interval := billing.Month
	if strings.HasSuffix(f.lookupKey, "_yearly") {
		interval = billing.Year
	}
	paid := devmode.PaidCheckout{
		OrgID: f.org, SessionID: f.session, LookupKey: f.lookupKey, Interval: interval, Status: billing.Status(f.status),
	}
	client := &http.Client{Timeout: sendWebhookTimeout}
	for _, payload := range paid.Events() {
		d, err := devmode.Send(ctx, client, f.url, f.secret, payload)
		if err != nil {
			return fmt.Errorf("billingd send-webhook: %w", err)
		}
		if err := reportDelivery(stdout, d, f.org); err != nil {
			return err
		}
	}
	return nil
}

// parseSendWebhookFlags reads and checks the flags, so that a mistake is one
// clear line before anything is sent.
func parseSendWebhookFlags(args []string, getenv func(string) string, out io.Writer) (sendWebhookFlags, error) {
	var f sendWebhookFlags
	fs := flag.NewFlagSet("billingd send-webhook", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.url, "url", "http://localhost:8080/webhooks/stripe", "billingd's webhook endpoint")
	fs.StringVar(&f.secret, "secret", defaultWebhookSecret(getenv), "webhook signing secret (default $STRIPE_WEBHOOK_SECRET, else dev mode's in "+defaultDevDir+")")
	fs.StringVar(&f.org, "org", devOrg, "organization id the subscription belongs to")
	fs.StringVar(&f.session, "session", "", "Checkout Session id (cs_…) to complete (optional)")
	fs.StringVar(&f.lookupKey, "lookup-key", "pro_monthly", "lookup key of the subscribed price")
	fs.StringVar(&f.status, "status", string(billing.StatusTrialing), "subscription status, one of "+statusList())
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	fail := func(format string, a ...any) (sendWebhookFlags, error) {
		return f, fmt.Errorf("billingd send-webhook: "+format, a...)
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q: it takes flags only (see -h)", fs.Arg(0))
	case !isHTTPURL(f.url):
		return fail("-url %q is not an absolute http(s) URL, e.g. http://localhost:8080/webhooks/stripe", f.url)
	case f.org == "":
		return fail("-org is required")
	case !slices.Contains(billing.StripeStatuses, billing.Status(f.status)):
		return fail("-status %q is not one of %s", f.status, statusList())
	case f.lookupKey == "":
		return fail("-lookup-key is required")
	case f.session != "" && !strings.HasPrefix(f.session, "cs_"):
		return fail("-session %q is not a Checkout Session id (cs_…)", f.session)
	case f.secret == "":
		return fail("-secret or STRIPE_WEBHOOK_SECRET is required")
	}
	return f, nil
}

// defaultWebhookSecret is the secret used when -secret is not given: the
// environment's, else the one dev mode keeps in the current directory.
func defaultWebhookSecret(getenv func(string) string) string {
	if s := getenv("STRIPE_WEBHOOK_SECRET"); s != "" {
		return s
	}
	s, _ := readDevSecrets(defaultDevDir) // none yet: -secret is required
	return s.WebhookSecret
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func statusList() string {
	names := make([]string, len(billing.StripeStatuses))
	for i, s := range billing.StripeStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// reportDelivery prints one line for a delivery, e.g.
// "customer.subscription.created evt_… → applied", and turns what needs the
// user's attention into an error.
func reportDelivery(w io.Writer, d devmode.Delivery, org string) error {
	switch {
	case !d.OK():
		fmt.Fprintf(w, "%s %s → %d %s: %s\n", d.Type, d.EventID, d.Status, http.StatusText(d.Status), d.Message)
		return fmt.Errorf("billingd send-webhook: billingd answered %d to %s: %s", d.Status, d.Type, d.Message)
	case d.Outcome == "":
		fmt.Fprintf(w, "%s %s → accepted\n", d.Type, d.EventID)
	default:
		fmt.Fprintf(w, "%s %s → %s\n", d.Type, d.EventID, d.Outcome)
	}
	if d.Outcome == string(billing.OutcomeUnknownOrg) {
		return errors.New("billingd send-webhook: billingd does not know org " + org +
			" yet: an org is created by its first checkout (POST /api/billing/checkout); start one, then send again")
	}
	return nil
}
