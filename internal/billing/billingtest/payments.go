// Package billingtest holds in-memory fakes of billing's ports for stateful flow
// tests. They complement, never replace, the adapter tests against stripe-mock.
package billingtest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// Payments is an in-memory Stripe: it remembers customers and sessions
// (honouring idempotency keys as Stripe does: a key sent again with the same
// params gets the first answer, with other params an error), prices by lookup
// key and subscriptions, and counts every call.
type Payments struct {
	mu            sync.Mutex
	prices        map[string]billing.Price
	customers     map[string]idempotent[billing.CustomerParams, string]
	customerCount int
	sessions      map[string]*FakeSession
	sessionKeys   map[string]idempotent[billing.CheckoutParams, billing.CreatedCheckout]
	creates       []billing.CheckoutParams
	subscriptions map[string]billing.Subscription
	portals       []FakePortal
	calls         []string
	// Fail, when set, makes every call fail with it.
	Fail error
}

// idempotent is what Stripe keeps of a request made with an idempotency key.
type idempotent[P, R any] struct {
	params P
	result R
}

// replay returns the first answer to key, as Stripe does; ok is false for a
// key not seen (or none). Params other than the first ones are an error.
func replay[P, R any](seen map[string]idempotent[P, R], key string, params P) (result R, ok bool, err error) {
	prev, ok := seen[key]
	switch {
	case key == "" || !ok:
		return result, false, nil
	case !reflect.DeepEqual(prev.params, params):
		return result, true, &billing.Error{Code: billing.EUpstream, Message: "Payment provider request failed",
			Err: fmt.Errorf("idempotency key %s reused with other parameters", key)}
	}
	return prev.result, true, nil
}

// FakeSession is a session the fake created, with what it was asked.
type FakeSession struct {
	Params billing.CheckoutParams
	Status billing.CheckoutStatus
}

// FakePortal is a Customer Portal session the fake created.
type FakePortal struct {
	CustomerID string
	ReturnURL  string
	URL        string
}

var _ billing.Payments = (*Payments)(nil)

// NewPayments returns a fake with one price per lookup key of the default catalog,
// named "price_" + lookup key.
func NewPayments() *Payments {
	p := &Payments{
		prices:        map[string]billing.Price{},
		customers:     map[string]idempotent[billing.CustomerParams, string]{},
		sessions:      map[string]*FakeSession{},
		sessionKeys:   map[string]idempotent[billing.CheckoutParams, billing.CreatedCheckout]{},
		subscriptions: map[string]billing.Subscription{},
	}
	for _, plan := range billing.DefaultPlans() {
		for iv, key := range plan.LookupKeys {
			p.prices[key] = billing.Price{ID: "price_" + key, LookupKey: key, Interval: iv, Currency: "usd", UnitAmount: 1500}
		}
	}
	return p
}

func (p *Payments) record(op string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, op)
	return p.Fail
}

// Calls returns the operations called so far, in order.
func (p *Payments) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// ResetCalls forgets the calls counted so far.
func (p *Payments) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// CustomersCreated returns how many distinct Customers exist.
func (p *Payments) CustomersCreated() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.customerCount
}

// Session returns a session the fake created.
func (p *Payments) Session(id string) (FakeSession, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[id]
	if !ok {
		return FakeSession{}, false
	}
	return *s, true
}

// SetSubscription sets what Subscription returns for sub.ID: Stripe's truth.
func (p *Payments) SetSubscription(sub billing.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subscriptions[sub.ID] = sub
}

// CreateCustomer implements billing.Payments.
func (p *Payments) CreateCustomer(_ context.Context, params billing.CustomerParams) (string, error) {
	if err := p.record("customers.create"); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, ok, err := replay(p.customers, params.IdempotencyKey, params); ok {
		return id, err
	}
	p.customerCount++
	id := fmt.Sprintf("cus_fake%d", p.customerCount)
	if params.IdempotencyKey != "" {
		p.customers[params.IdempotencyKey] = idempotent[billing.CustomerParams, string]{params, id}
	}
	return id, nil
}

// PriceByLookupKey implements billing.Payments.
func (p *Payments) PriceByLookupKey(_ context.Context, key string) (billing.Price, error) {
	if err := p.record("prices.list"); err != nil {
		return billing.Price{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	price, ok := p.prices[key]
	if !ok {
		return billing.Price{}, billing.ErrNotFound
	}
	return price, nil
}

// CreateCheckoutSession implements billing.Payments.
func (p *Payments) CreateCheckoutSession(_ context.Context, params billing.CheckoutParams) (billing.CreatedCheckout, error) {
	if err := p.record("checkout.sessions.create"); err != nil {
		return billing.CreatedCheckout{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.creates = append(p.creates, params)
	if created, ok, err := replay(p.sessionKeys, params.IdempotencyKey, params); ok {
		return created, err
	}
	id := fmt.Sprintf("cs_test_fake%d", len(p.sessions)+1)
	p.sessions[id] = &FakeSession{Params: params, Status: billing.CheckoutOpen}
	created := billing.CreatedCheckout{
		ID: id, URL: "https://checkout.stripe.com/c/pay/" + id, ExpiresAt: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second),
	}
	if params.IdempotencyKey != "" {
		p.sessionKeys[params.IdempotencyKey] = idempotent[billing.CheckoutParams, billing.CreatedCheckout]{params, created}
	}
	return created, nil
}

// SessionsCreated returns how many distinct Checkout Sessions exist.
func (p *Payments) SessionsCreated() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// CheckoutCreates returns the params of every session create call, replays
// included, in order.
func (p *Payments) CheckoutCreates() []billing.CheckoutParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]billing.CheckoutParams(nil), p.creates...)
}

// ExpireCheckoutSession implements billing.Payments.
func (p *Payments) ExpireCheckoutSession(_ context.Context, id string) error {
	if err := p.record("checkout.sessions.expire"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sessions[id]; ok && s.Status == billing.CheckoutOpen {
		s.Status = billing.CheckoutExpired
	}
	return nil
}

// Subscription implements billing.Payments.
func (p *Payments) Subscription(_ context.Context, id string) (billing.Subscription, error) {
	if err := p.record("subscriptions.retrieve"); err != nil {
		return billing.Subscription{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sub, ok := p.subscriptions[id]
	if !ok {
		return billing.Subscription{}, billing.ErrNotFound
	}
	return sub, nil
}

// CreatePortalSession implements billing.Payments.
func (p *Payments) CreatePortalSession(_ context.Context, customerID, returnURL string) (string, error) {
	if err := p.record("billing_portal.sessions.create"); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	url := fmt.Sprintf("https://billing.stripe.com/p/session/test_fake%d", len(p.portals)+1)
	p.portals = append(p.portals, FakePortal{CustomerID: customerID, ReturnURL: returnURL, URL: url})
	return url, nil
}

// Portals returns the Customer Portal sessions the fake created, in order.
func (p *Payments) Portals() []FakePortal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]FakePortal(nil), p.portals...)
}
