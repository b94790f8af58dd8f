package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
)

// Checkout figures.
const (
	checkoutOverheadTarget = time.Millisecond
	seedConns              = 8
	tokenTTL               = 2 * time.Hour
	checkoutBody           = `{"plan":"pro"}`
)

// seed creates the organizations the other measurements use: one checkout
// each, which creates the org row and its Stripe Customer.
func (b *bench) seed(ctx context.Context) error {
	orgs, err := b.newOrgs("org_bench", b.opts.orgs)
	if err != nil {
		return err
	}
	b.orgs = orgs
	res, err := b.checkoutAll(ctx, b.orgs)
	if err != nil {
		return err
	}
	b.logf("seeded %d orgs by their first checkout (%d concurrent): %.0f/s, %s",
		len(b.orgs), seedConns, res.rate(), summarize(res.Lat))
	return nil
}

// newOrgs names n orgs never seen before, even by a long-running billingd,
// and signs a user token for each.
func (b *bench) newOrgs(prefix string, n int) ([]benchOrg, error) {
	run := randomHex(4)
	orgs := make([]benchOrg, n)
	for i := range orgs {
		id := fmt.Sprintf("%s_%s_%05d", prefix, run, i)
		token, err := userToken(b.jwtSecret, id, tokenTTL)
		if err != nil {
			return nil, err
		}
		orgs[i] = benchOrg{id: id, token: token}
	}
	return orgs, nil
}

// checkoutAll sends each org's first checkout, seedConns at a time.
func (b *bench) checkoutAll(ctx context.Context, orgs []benchOrg) (loadResult, error) {
	client := newLoadClient(seedConns)
	defer client.CloseIdleConnections()
	res := fixedCount(ctx, seedConns, len(orgs), func(ctx context.Context, i int) error {
		return b.checkout(ctx, client, orgs[i])
	})
	if res.Failed > 0 {
		return res, fmt.Errorf("%d of %d first checkouts failed; first: %w", res.Failed, len(orgs), res.Err)
	}
	return res, nil
}

func (b *bench) checkout(ctx context.Context, client *http.Client, o benchOrg) error {
	_, err := expectOK(ctx, client, call{
		method: http.MethodPost, url: b.primary() + "/api/billing/checkout", token: o.token, body: []byte(checkoutBody),
	})
	return err
}

// checkoutOverhead times POST /api/billing/checkout for orgs that already have
// a Customer — one Stripe call, checkout.sessions.create — and, alternating
// with it, the same create sent straight to Stripe through the same client
// code. The difference of the medians is what billingd adds.
func (b *bench) checkoutOverhead(ctx context.Context) error {
	const name = "checkout overhead p50 (billingd − Stripe)"
	target := "< " + ms(checkoutOverheadTarget)
	if b.stripeURL == "" {
		b.add(secCheckout, name, "needs -stripe-url", target, skipped)
		return nil
	}
	if b.opts.checkouts == 0 {
		b.add(secCheckout, name, "-checkouts 0", target, skipped)
		return nil
	}
	direct, params, err := b.directCheckout(ctx)
	if err != nil {
		return err
	}
	var viaBillingd, viaStripe []time.Duration
	const warm = 5
	for i := range b.opts.checkouts + warm {
		o := b.orgs[i%len(b.orgs)]
		t0 := time.Now()
		if err := b.checkout(ctx, b.client, o); err != nil {
			return fmt.Errorf("checkout of %s: %w", o.id, err)
		}
		t1 := time.Now()
		if _, err := direct.CreateCheckoutSession(ctx, params); err != nil {
			return fmt.Errorf("direct checkout.sessions.create: %w", err)
		}
		t2 := time.Now()
		if i >= warm {
			viaBillingd = append(viaBillingd, t1.Sub(t0))
			viaStripe = append(viaStripe, t2.Sub(t1))
		}
	}
	sb, ss := summarize(viaBillingd), summarize(viaStripe)
	overhead := sb.P50 - ss.P50
	b.logf("checkout, org with a Customer (sequential):  %s", sb)
	b.logf("checkout.sessions.create straight to Stripe: %s", ss)
	b.add(secCheckout, "checkout p50 / p99 (via billingd)", ms(sb.P50)+" / "+ms(sb.P99), "", info)
	b.add(secCheckout, "Stripe round trip p50 / p99 (direct)", ms(ss.P50)+" / "+ms(ss.P99), "", info)
	b.add(secCheckout, name, ms(overhead), target, check(overhead < checkoutOverheadTarget))
	return nil
}

// directCheckout returns a Stripe client and the parameters billingd would
// send for a checkout of a Pro plan with a Customer.
func (b *bench) directCheckout(ctx context.Context) (*stripe.Client, billing.CheckoutParams, error) {
	c := stripe.New(b.stripeKey, stripe.Options{APIBase: b.stripeURL, Logger: slog.New(slog.DiscardHandler)})
	price, err := c.PriceByLookupKey(ctx, "pro_monthly")
	if err != nil {
		return nil, billing.CheckoutParams{}, fmt.Errorf("direct: resolve pro_monthly: %w", err)
	}
	org := "org_bench_direct"
	customer, err := c.CreateCustomer(ctx, billing.CustomerParams{OrgID: org, Email: org + "@example.com"})
	if err != nil {
		return nil, billing.CheckoutParams{}, fmt.Errorf("direct: create customer: %w", err)
	}
	return c, billing.CheckoutParams{
		OrgID: org, CustomerID: customer, PriceID: price.ID, Quantity: 1, TrialDays: 14,
		SuccessURL: "http://localhost:3000/billing/success?session_id={CHECKOUT_SESSION_ID}",
		CancelURL:  "http://localhost:3000/billing",
		Metadata:   map[string]string{billing.OrgMetadataKey: org},
	}, nil
}
