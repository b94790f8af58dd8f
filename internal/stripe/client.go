package stripe

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/billingd/billingd/internal/billing"
)

// Options configure a Client. The zero value talks to api.stripe.com.
type Options struct {
	// APIBase replaces Stripe's API URL, e.g. "http://localhost:12111" for stripe-mock.
	APIBase string
	// HTTPClient defaults to stripe-go's client (80 s timeout).
	HTTPClient *http.Client
	// Logger receives a debug record for each Stripe request and a warning for
	// each failed one; defaults to slog.Default().
	Logger *slog.Logger
	// Observe, when set, is told of every Stripe request once it is done: the
	// operation, how long it took (retries included) and its error, or nil.
	// It keeps metrics out of this package.
	Observe func(op string, d time.Duration, err error)
}

// Client is billing.Payments over one stripe-go client.
type Client struct {
	sc      *stripego.Client
	api     stripego.Backend // for the lists read raw (see rawPage)
	log     *slog.Logger
	observe func(op string, d time.Duration, err error)
	// key is kept only to scrub it from upstream error text.
	key string
}

var _ billing.Payments = (*Client)(nil)

// New returns a Client that authenticates with secretKey.
func New(secretKey string, opts Options) *Client {
	cfg := &stripego.BackendConfig{
		HTTPClient: opts.HTTPClient,
		// stripe-go logs failed requests with their messages on its own; failures
		// are logged here instead, through slog and without Stripe's raw messages.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
	}
	if opts.APIBase != "" {
		cfg.URL = stripego.String(opts.APIBase)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	backends := stripego.NewBackendsWithConfig(cfg)
	return &Client{
		sc:      stripego.NewClient(secretKey, stripego.WithBackends(backends)),
		api:     backends.API,
		log:     log,
		observe: opts.Observe,
		key:     secretKey,
	}
}

// CreateCustomer creates a Customer carrying metadata.organization_id.
func (c *Client) CreateCustomer(ctx context.Context, p billing.CustomerParams) (string, error) {
	params := &stripego.CustomerCreateParams{
		Metadata: map[string]string{billing.OrgMetadataKey: p.OrgID},
	}
	if p.Email != "" {
		params.Email = stripego.String(p.Email)
	}
	setIdempotencyKey(&params.Params, p.IdempotencyKey)
	var cus *stripego.Customer
	err := c.call(ctx, "create_customer", func() (resp *stripego.APIResponse, err error) {
		cus, err = c.sc.V1Customers.Create(ctx, params)
		return cus.LastResponse, err
	})
	if err != nil {
		return "", err
	}
	return cus.ID, nil
}

// PriceByLookupKey returns the active price with lookupKey, or billing.ErrNotFound.
func (c *Client) PriceByLookupKey(ctx context.Context, lookupKey string) (billing.Price, error) {
	params := &stripego.PriceListParams{
		LookupKeys: []*string{stripego.String(lookupKey)},
		// Archived prices keep their lookup keys; only an active one may be sold.
		Active: stripego.Bool(true),
	}
	params.Limit = stripego.Int64(1)
	var found *stripego.Price
	// The list iterator hides the page and its response: no request id on success.
	err := c.call(ctx, "list_prices", func() (*stripego.APIResponse, error) {
		for p, err := range c.sc.V1Prices.List(ctx, params) {
			found = p
			return nil, err
		}
		return nil, nil
	})
	switch {
	case err != nil:
		return billing.Price{}, err
	case found == nil:
		return billing.Price{}, fmt.Errorf("stripe: no active price with lookup key %q: %w", lookupKey, billing.ErrNotFound)
	}
	return toPrice(found, lookupKey), nil
}

// toPrice converts a listed price. Stripe filters by lookup key on its side, so
// the requested key is the price's key (stripe-mock ignores the filter and
// answers with a fixture whose lookup_key is null).
func toPrice(p *stripego.Price, lookupKey string) billing.Price {
	price := billing.Price{
		ID:         p.ID,
		LookupKey:  lookupKey,
		Currency:   string(p.Currency),
		UnitAmount: p.UnitAmount,
	}
	if p.Recurring != nil {
		price.Interval = billing.Interval(p.Recurring.Interval)
	}
	return price
}

// CreateCheckoutSession creates a hosted, subscription-mode Checkout Session that
// carries the org id three ways: client_reference_id, metadata, and the
// subscription's metadata.
func (c *Client) CreateCheckoutSession(ctx context.Context, p billing.CheckoutParams) (billing.CreatedCheckout, error) {
	metadata := make(map[string]string, len(p.Metadata)+1)
	maps.Copy(metadata, p.Metadata)
	metadata[billing.OrgMetadataKey] = p.OrgID // client-supplied metadata never overrides it

	quantity := int64(p.Quantity)
	if quantity < 1 {
		quantity = 1
	}
	params := &stripego.CheckoutSessionCreateParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModeSubscription)),
		Customer:          stripego.String(p.CustomerID),
		ClientReferenceID: stripego.String(p.OrgID),
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{
			{Price: stripego.String(p.PriceID), Quantity: stripego.Int64(quantity)},
		},
		Metadata:                 metadata,
		SubscriptionData:         &stripego.CheckoutSessionCreateSubscriptionDataParams{Metadata: metadata},
		PaymentMethodCollection:  stripego.String(string(stripego.CheckoutSessionPaymentMethodCollectionAlways)),
		AllowPromotionCodes:      stripego.Bool(true),
		BillingAddressCollection: stripego.String(string(stripego.CheckoutSessionBillingAddressCollectionAuto)),
		// Checkout may write the address and name it collects back to the
		// Customer, which automatic tax and invoices then use.
		CustomerUpdate: &stripego.CheckoutSessionCreateCustomerUpdateParams{
			Address: stripego.String("auto"),
			Name:    stripego.String("auto"),
		},
		SuccessURL: stripego.String(p.SuccessURL),
		CancelURL:  stripego.String(p.CancelURL),
	}
	if p.TrialDays > 0 {
		params.SubscriptionData.TrialPeriodDays = stripego.Int64(int64(p.TrialDays))
	}
	if p.AutomaticTax {
		params.AutomaticTax = &stripego.CheckoutSessionCreateAutomaticTaxParams{Enabled: stripego.Bool(true)}
	}
	setIdempotencyKey(&params.Params, p.IdempotencyKey)

	var s *stripego.CheckoutSession
	err := c.call(ctx, "create_checkout_session", func() (resp *stripego.APIResponse, err error) {
		s, err = c.sc.V1CheckoutSessions.Create(ctx, params)
		return s.LastResponse, err
	})
	if err != nil {
		return billing.CreatedCheckout{}, err
	}
	return billing.CreatedCheckout{ID: s.ID, URL: s.URL, ExpiresAt: time.Unix(s.ExpiresAt, 0).UTC()}, nil
}

// ExpireCheckoutSession expires an open session. A session that is already
// complete or expired, or that Stripe does not know, is not open: nil.
func (c *Client) ExpireCheckoutSession(ctx context.Context, id string) error {
	err := c.call(ctx, "expire_checkout_session", func() (*stripego.APIResponse, error) {
		s, err := c.sc.V1CheckoutSessions.Expire(ctx, id, nil)
		return s.LastResponse, err
	})
	if isSessionNotOpen(err) || isResourceMissing(err) {
		c.log.LogAttrs(ctx, slog.LevelInfo, "stripe: checkout session was no longer open",
			slog.String("checkout_session_id", id), slog.String("stripe_request_id", requestID(err)))
		return nil
	}
	return err
}

// Subscription fetches a subscription's current state, or billing.ErrNotFound.
func (c *Client) Subscription(ctx context.Context, id string) (billing.Subscription, error) {
	var sub *stripego.Subscription
	err := c.call(ctx, "retrieve_subscription", func() (resp *stripego.APIResponse, err error) {
		sub, err = c.sc.V1Subscriptions.Retrieve(ctx, id, nil)
		return sub.LastResponse, err
	})
	if isResourceMissing(err) {
		return billing.Subscription{}, fmt.Errorf("stripe: subscription %q: %w", id, billing.ErrNotFound)
	}
	if err != nil {
		return billing.Subscription{}, err
	}
	// Read the raw answer through the same shape as subscription events, so that
	// a fetched subscription and an event's one map identically.
	var raw []byte
	if sub.LastResponse != nil {
		raw = sub.LastResponse.RawJSON
	}
	s, err := decodeSubscription(raw)
	if err != nil {
		return billing.Subscription{}, c.upstream(ctx, "read_subscription", err)
	}
	return s, nil
}

func setIdempotencyKey(p *stripego.Params, key string) {
	if key != "" {
		p.IdempotencyKey = stripego.String(key)
	}
}
