package billing

import (
	"context"
	"errors"
	"sync"
	"time"
)

// priceCache resolves lookup keys to Stripe prices and remembers them, so that a
// checkout of an org that already has a Customer costs one Stripe call. It also
// remembers which lookup key a price id came from, for subscription events whose
// price carries no lookup key.
type priceCache struct {
	payments Payments
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	byKey   map[string]cachedPrice
	keyByID map[string]string
}

type cachedPrice struct {
	price     Price
	fetchedAt time.Time
}

func newPriceCache(p Payments, ttl time.Duration, now func() time.Time) *priceCache {
	return &priceCache{payments: p, ttl: ttl, now: now, byKey: map[string]cachedPrice{}, keyByID: map[string]string{}}
}

// resolve returns the active price of lookupKey, from the cache while it is fresh.
func (c *priceCache) resolve(ctx context.Context, lookupKey string) (Price, error) {
	c.mu.Lock()
	cp, ok := c.byKey[lookupKey]
	c.mu.Unlock()
	if ok && c.now().Sub(cp.fetchedAt) < c.ttl {
		return cp.price, nil
	}
	p, err := c.payments.PriceByLookupKey(ctx, lookupKey)
	if errors.Is(err, ErrNotFound) {
		return Price{}, &Error{Code: EUpstream, Message: "No active price is configured at Stripe for this plan", Err: err}
	}
	if err != nil {
		return Price{}, err
	}
	c.mu.Lock()
	c.byKey[lookupKey] = cachedPrice{price: p, fetchedAt: c.now()}
	c.keyByID[p.ID] = lookupKey
	c.mu.Unlock()
	return p, nil
}

// lookupKeyOf returns the lookup key a cached price id was resolved from.
func (c *priceCache) lookupKeyOf(priceID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keyByID[priceID]
	return k, ok
}
