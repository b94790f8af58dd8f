// Package billingtest holds in-memory fakes of billing's ports for stateful flow
// tests. They complement, never replace, the adapter tests against stripe-mock.
package billingtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// Payments is an in-memory Stripe: it remembers customers (honouring idempotency
// keys as Stripe does), prices by lookup key, sessions and subscriptions, and
// counts every call.
type Payments struct {
	mu            sync.Mutex
	prices        map[string]billing.Price
	customers     map[string]string // idempotency key -> customer id
	customerCount int
	sessions      map[string]*FakeSession
	subscriptions map[string]billing.Subscription
	portals       []FakePortal
	calls         []string
	// Fail, when set, makes every call fail with it.
	Fail error
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
		customers:     map[string]string{},
		sessions:      map[string]*FakeSession{},
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
	if id, ok := p.customers[params.IdempotencyKey]; ok && params.IdempotencyKey != "" {
		return id, nil
	}
	p.customerCount++
	id := fmt.Sprintf("cus_fake%d", p.customerCount)
	p.customers[params.IdempotencyKey] = id
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
	id := fmt.Sprintf("cs_test_fake%d", len(p.sessions)+1)
	p.sessions[id] = &FakeSession{Params: params, Status: billing.CheckoutOpen}
	return billing.CreatedCheckout{
		ID: id, URL: "https://checkout.stripe.com/c/pay/" + id, ExpiresAt: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second),
	}, nil
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
