package billing_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/store/storetest"
)

func intp(i int) *int { return &i }

func TestStartCheckout(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		e := newSQLiteEnv(t)
		res, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro", Metadata: map[string]string{"campaign": "fall"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.SessionID == "" || res.URL == "" || res.ExpiresAt.IsZero() {
			t.Fatalf("result = %+v, want id, url and expiry", res)
		}
		s, _ := e.payments.Session(res.SessionID)
		p := s.Params
		if p.OrgID != "org_a" || p.Metadata["organization_id"] != "org_a" || p.Metadata["campaign"] != "fall" {
			t.Fatalf("metadata = %v, want organization_id and the client's campaign", p.Metadata)
		}
		if p.PriceID != "price_pro_monthly" || p.Quantity != 1 || p.TrialDays != 14 || p.CustomerID == "" {
			t.Fatalf("params = %+v, want pro monthly price, 1 seat, 14 trial days, a customer", p)
		}
		if p.SuccessURL != "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}" || p.CancelURL != "https://app.example.com/billing" {
			t.Fatalf("redirects = %s %s, want the defaults", p.SuccessURL, p.CancelURL)
		}
		org, err := e.store.Organization(ctx, "org_a")
		if err != nil || org.StripeCustomerID != p.CustomerID || org.BillingEmail != "org_a@example.com" {
			t.Fatalf("org = %+v, %v; want the customer and email persisted", org, err)
		}
	})

	t.Run("OneCustomerUnderTenConcurrentFirstCheckouts", func(t *testing.T) {
		e := newSQLiteEnv(t)
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("checkout %d: %v", i, err)
			}
		}
		if n := e.payments.CustomersCreated(); n != 1 {
			t.Fatalf("%d Stripe Customers created, want 1", n)
		}
		creates := 0
		for _, c := range e.payments.Calls() {
			if c == "checkout.sessions.create" {
				creates++
			}
		}
		if creates != 1 {
			t.Fatalf("%d sessions created for 10 identical requests, want 1 (the open one is reused)", creates)
		}
	})

	t.Run("OrgWithCustomerCostsOneStripeCall", func(t *testing.T) {
		e := newSQLiteEnv(t)
		first, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e.handle(t, billing.Event{ID: "evt_exp", Type: billing.EventCheckoutExpired, Created: t0, Checkout: &billing.CheckoutObject{ID: first.SessionID, OrgID: "org_a"}})
		e.payments.ResetCalls()
		second, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if calls := e.payments.Calls(); !slices.Equal(calls, []string{"checkout.sessions.create"}) {
			t.Fatalf("stripe calls = %v, want exactly one checkout.sessions.create", calls)
		}
		if second.SessionID == first.SessionID {
			t.Fatalf("got the expired session %s again, want a new one", first.SessionID)
		}
	})

	t.Run("IdenticalRepeatReturnsOpenSession", func(t *testing.T) {
		e := newSQLiteEnv(t)
		req := billing.CheckoutRequest{Plan: "team", Interval: billing.Year, Quantity: intp(3)}
		a, err := e.svc.StartCheckout(ctx, caller("org_a"), req, "")
		if err != nil {
			t.Fatal(err)
		}
		e.payments.ResetCalls()
		b, err := e.svc.StartCheckout(ctx, caller("org_a"), req, "")
		if err != nil {
			t.Fatal(err)
		}
		if a.SessionID != b.SessionID || len(e.payments.Calls()) != 0 {
			t.Fatalf("repeat got %s (calls %v), want %s and no Stripe call", b.SessionID, e.payments.Calls(), a.SessionID)
		}
	})

	t.Run("DifferentRequestExpiresOpenSessionFirst", func(t *testing.T) {
		e := newSQLiteEnv(t)
		a, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e.payments.ResetCalls()
		b, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro", Interval: billing.Year}, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"prices.list", "checkout.sessions.expire", "checkout.sessions.create"}; !slices.Equal(e.payments.Calls(), want) {
			t.Fatalf("calls = %v, want %v", e.payments.Calls(), want)
		}
		if old, _ := e.payments.Session(a.SessionID); old.Status != billing.CheckoutExpired || a.SessionID == b.SessionID {
			t.Fatalf("old session status at Stripe = %s, want expired", old.Status)
		}
		cv, err := e.svc.CheckoutSession(ctx, "org_a", a.SessionID)
		if err != nil || cv.Status != billing.CheckoutExpired {
			t.Fatalf("stored old session = %+v, %v; want expired", cv, err)
		}
	})

	t.Run("PriceIDOfCatalog", func(t *testing.T) {
		e := newSQLiteEnv(t)
		res, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{PriceID: "price_team_yearly", Quantity: intp(5)}, "")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := e.payments.Session(res.SessionID)
		if s.Params.PriceID != "price_team_yearly" || s.Params.Quantity != 5 || s.Params.TrialDays != 0 {
			t.Fatalf("params = %+v, want team yearly, 5 seats, no trial", s.Params)
		}
	})

	t.Run("AlreadySubscribed", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		e.handle(t, subEvent("evt_1", billing.EventSubscriptionCreated, "org_a", "sub_1", billing.StatusActive, t0))
		_, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "team"}, "")
		wantCode(t, err, billing.EAlreadySubscribed)
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		e := newSQLiteEnv(t)
		req := billing.CheckoutRequest{Plan: "pro"}
		a, err := e.svc.StartCheckout(ctx, caller("org_a"), req, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := e.payments.Session(a.SessionID)
		if s.Params.IdempotencyKey == "" {
			t.Fatal("no Stripe idempotency key sent for a client Idempotency-Key")
		}
		b, err := e.svc.StartCheckout(ctx, caller("org_a"), req, "key-1")
		if err != nil || b != a {
			t.Fatalf("same key and body = %+v, %v; want %+v", b, err, a)
		}
		_, err = e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "team"}, "key-1")
		wantCode(t, err, billing.EConflict)
		// Keys belong to an org: another org's same key is a new request.
		c, err := e.svc.StartCheckout(ctx, caller("org_b"), billing.CheckoutRequest{Plan: "team"}, "key-1")
		if err != nil || c.SessionID == a.SessionID {
			t.Fatalf("org_b with the same key = %+v, %v; want its own session", c, err)
		}
	})

	t.Run("IdempotencyKeyOfAnIdenticalRepeat", func(t *testing.T) {
		e := newSQLiteEnv(t)
		req := billing.CheckoutRequest{Plan: "pro"}
		a, err := e.svc.StartCheckout(ctx, caller("org_a"), req, "")
		if err != nil {
			t.Fatal(err)
		}
		e.payments.ResetCalls()
		// The open session is the answer, and the key records it.
		b, err := e.svc.StartCheckout(ctx, caller("org_a"), req, "key-2")
		if err != nil || b != a || len(e.payments.Calls()) != 0 {
			t.Fatalf("repeat with a key = %+v, %v (calls %v); want %+v and no Stripe call", b, err, e.payments.Calls(), a)
		}
		_, err = e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "team"}, "key-2")
		wantCode(t, err, billing.EConflict)
	})

	t.Run("UpstreamFailureWritesNoSession", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.payments.Fail = &billing.Error{Code: billing.EUpstream, Message: "Payment provider request failed", Err: errors.New("boom")}
		_, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, "")
		wantCode(t, err, billing.EUpstream)
		state, err := e.store.CheckoutState(ctx, "org_a", "", t0)
		if err != nil || state.OpenSession != nil {
			t.Fatalf("open session after upstream failure = %+v, %v; want none", state.OpenSession, err)
		}
	})

	t.Run("RetryAfterSessionWasNotStoredGetsTheSameSession", func(t *testing.T) {
		for name, key := range map[string]string{"WithoutIdempotencyKey": "", "WithIdempotencyKey": "key-1"} {
			t.Run(name, func(t *testing.T) {
				st := &billingtest.Store{Store: storetest.OpenSQLite(t)}
				first := firstCall()
				st.FailSaveCheckoutSession = func(billing.CheckoutSession) error {
					if first() {
						return errConnectionLost
					}
					return nil
				}
				e := newEnv(t, st)
				req := billing.CheckoutRequest{Plan: "pro"}
				if _, err := e.svc.StartCheckout(ctx, caller("org_a"), req, key); err == nil {
					t.Fatal("the checkout succeeded although its session was not stored")
				}
				res, err := e.svc.StartCheckout(ctx, caller("org_a"), req, key)
				if err != nil {
					t.Fatal(err)
				}
				creates := e.payments.CheckoutCreates()
				if len(creates) != 2 || creates[0].IdempotencyKey == "" || creates[1].IdempotencyKey != creates[0].IdempotencyKey {
					t.Fatalf("session creates sent keys %v, want the same key twice", idempotencyKeys(creates))
				}
				if n := e.payments.SessionsCreated(); n != 1 {
					t.Fatalf("%d sessions exist at Stripe, want 1: the first attempt's is orphaned", n)
				}
				if _, ok := e.payments.Session(res.SessionID); !ok {
					t.Fatalf("retry returned %s, which Stripe never created", res.SessionID)
				}
				state, err := st.CheckoutState(ctx, "org_a", "", t0)
				if err != nil || state.OpenSession == nil || state.OpenSession.ID != res.SessionID {
					t.Fatalf("stored open session = %+v, %v; want %s", state.OpenSession, err, res.SessionID)
				}
			})
		}
	})

	t.Run("RetryAfterCustomerWasNotStoredGetsTheSameCustomer", func(t *testing.T) {
		st := &billingtest.Store{Store: storetest.OpenSQLite(t)}
		first := firstCall()
		st.FailSetCustomerID = func(string, string) error {
			if first() {
				return errConnectionLost
			}
			return nil
		}
		e := newEnv(t, st)
		if _, err := e.svc.StartCheckout(ctx, caller("org_a"), billing.CheckoutRequest{Plan: "pro"}, ""); err == nil {
			t.Fatal("the checkout succeeded although its Customer was not stored")
		}
		// Another member of the org retries: the Customer's params come from
		// the org row, so Stripe accepts the key again.
		other := billing.Caller{OrgID: "org_a", UserID: "user_b", Email: "b@example.com"}
		if _, err := e.svc.StartCheckout(ctx, other, billing.CheckoutRequest{Plan: "pro"}, ""); err != nil {
			t.Fatal(err)
		}
		if n := e.payments.CustomersCreated(); n != 1 {
			t.Fatalf("%d Customers exist at Stripe, want 1", n)
		}
		org, err := st.Organization(ctx, "org_a")
		if err != nil || org.StripeCustomerID != "cus_fake1" {
			t.Fatalf("org = %+v, %v; want the one Customer stored", org, err)
		}
	})

	t.Run("BadInputWritesNothing", func(t *testing.T) {
		cases := []struct {
			name    string
			req     billing.CheckoutRequest
			message string
		}{
			{"NeitherPlanNorPrice", billing.CheckoutRequest{}, "plan or priceId is required"},
			{"BothPlanAndPrice", billing.CheckoutRequest{Plan: "pro", PriceID: "price_pro_monthly"}, "Give either plan or priceId, not both"},
			{"UnknownPlan", billing.CheckoutRequest{Plan: "enterprise"}, `Unknown plan "enterprise"`},
			// The contract refuses intervals other than month and year; a catalog
			// plan may still lack one of them.
			{"IntervalThePlanLacks", billing.CheckoutRequest{Plan: "pro", Interval: "week"}, `Plan "pro" has no weekly price`},
			{"UnknownPrice", billing.CheckoutRequest{PriceID: "price_other"}, "Invalid price ID"},
			{"QuantityOnFlatPlan", billing.CheckoutRequest{Plan: "pro", Quantity: intp(2)}, `quantity is only allowed for per-seat plans; "pro" is not one`},
			{"TooManySeats", billing.CheckoutRequest{Plan: "team", Quantity: intp(501)}, `quantity must be at most 500 for plan "team"`},
			{"ForeignSuccessURL", billing.CheckoutRequest{Plan: "pro", SuccessURL: "https://evil.example.net/steal"}, "successUrl must be an absolute URL on an allowed origin"},
			{"ForeignCancelURL", billing.CheckoutRequest{Plan: "pro", CancelURL: "https://app.example.com.evil.net/"}, "cancelUrl must be an absolute URL on an allowed origin"},
			{"MetadataKeyTooLong", billing.CheckoutRequest{Plan: "pro", Metadata: map[string]string{strings.Repeat("k", 41): "v"}}, "metadata keys must be 1 to 40 characters"},
			{"MetadataOverridesOrg", billing.CheckoutRequest{Plan: "pro", Metadata: map[string]string{"organization_id": "org_victim"}}, "metadata.organization_id is reserved and set from your token"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newSQLiteEnv(t)
				_, err := e.svc.StartCheckout(ctx, caller("org_a"), tc.req, "")
				wantCode(t, err, billing.EBadRequest)
				if msg := billing.ErrorMessage(err); msg != tc.message {
					t.Fatalf("message = %q, want %q", msg, tc.message)
				}
				_, err = e.store.Organization(ctx, "org_a")
				mustNotFound(t, err, "org row after bad input")
				if n := e.payments.CustomersCreated(); n != 0 {
					t.Fatalf("%d customers created for bad input", n)
				}
			})
		}
	})
}

// errConnectionLost is a store write failing after Stripe created an object.
var errConnectionLost = errors.New("store: connection lost")

// firstCall reports true on its first call only.
func firstCall() func() bool {
	var called atomic.Bool
	return func() bool { return called.CompareAndSwap(false, true) }
}

func idempotencyKeys(creates []billing.CheckoutParams) []string {
	keys := make([]string, len(creates))
	for i, c := range creates {
		keys[i] = c.IdempotencyKey
	}
	return keys
}
