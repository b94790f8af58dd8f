package stripe

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/form"

	"github.com/billingd/billingd/internal/billing"
)

// listPageSize is the largest page Stripe serves: fewest requests per run.
const listPageSize = 100

// handledEventTypes are the event types the webhook pipeline acts on, the ones
// reconcile asks Stripe for (Stripe takes at most 20).
var handledEventTypes = []string{
	billing.EventCheckoutCompleted, billing.EventCheckoutExpired,
	billing.EventCheckoutAsyncSucceeded, billing.EventCheckoutAsyncFailed,
	billing.EventSubscriptionCreated, billing.EventSubscriptionUpdated, billing.EventSubscriptionDeleted,
	billing.EventSubscriptionPaused, billing.EventSubscriptionResumed,
	billing.EventInvoicePaid, billing.EventInvoicePaymentSucceeded, billing.EventInvoicePaymentFailed,
}

// UndeliveredEvents lists the events of the handled types created at or
// after since whose delivery to some webhook endpoint has not succeeded (failed
// or still pending), oldest first, following every page.
func (c *Client) UndeliveredEvents(ctx context.Context, since time.Time) ([]billing.Event, error) {
	params := &stripego.EventListParams{
		DeliverySuccess: stripego.Bool(false),
		CreatedRange:    &stripego.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Types:           stripego.StringSlice(handledEventTypes),
	}
	params.Limit = stripego.Int64(listPageSize)
	var events []billing.Event
	err := c.call(ctx, "list_events", func() (*stripego.APIResponse, error) {
		for e, err := range c.sc.V1Events.List(ctx, params) {
			if err != nil {
				return nil, err
			}
			ev, err := toEvent(*e)
			if err != nil {
				// One unreadable event must not hide the others: it is logged
				// and skipped, as a webhook delivery of it would be refused.
				c.log.WarnContext(ctx, "stripe event from the API is unreadable; skipped", "event_id", e.ID, "event_type", e.Type, "error", err)
				continue
			}
			events = append(events, ev)
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(events) // Stripe lists newest first
	return events, nil
}

// CustomerSubscriptions lists every subscription of the Customer, whatever its
// status (canceled ones included), following every page. Each is read from
// Stripe's raw answer by the same shape as subscription events.
func (c *Client) CustomerSubscriptions(ctx context.Context, customerID string) ([]billing.Subscription, error) {
	params := &stripego.SubscriptionListParams{Customer: stripego.String(customerID), Status: stripego.String("all")}
	params.Limit = stripego.Int64(listPageSize)
	var subs []billing.Subscription
	for {
		var page rawPage
		err := c.call(ctx, "list_subscriptions", func() (*stripego.APIResponse, error) {
			values := &form.Values{}
			form.AppendTo(values, params)
			err := c.api.CallRaw(http.MethodGet, "/v1/subscriptions", c.key, []byte(values.Encode()), &stripego.Params{Context: ctx}, &page)
			return page.LastResponse, err
		})
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Data {
			sub, err := decodeSubscription(raw)
			if err != nil {
				return nil, c.upstream(ctx, "read_subscription", err)
			}
			subs = append(subs, sub)
		}
		if !page.HasMore || len(page.Data) == 0 {
			return subs, nil
		}
		params.StartingAfter = stripego.String(subs[len(subs)-1].ID)
	}
}

// rawPage is one page of a Stripe list, its objects kept as Stripe sent them.
type rawPage struct {
	stripego.APIResource
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}
