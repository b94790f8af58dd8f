package billing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// env is a Service over a real store and the in-memory Stripe.
type env struct {
	svc      *billing.Service
	store    billing.Store
	payments *billingtest.Payments
	notifier *notify.Local
	db       *store.Store // st itself, when it is not wrapped: where messages are read
}

func newEnv(tb testing.TB, st billing.Store, mutate ...func(*billing.Options)) *env {
	tb.Helper()
	opts := billing.Options{
		Access:            billing.Access{PastDueAccess: true},
		DefaultSuccessURL: "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
		DefaultCancelURL:  "https://app.example.com/billing",
		RedirectAllowed: func(u string) bool {
			return len(u) >= len("https://app.example.com/") && u[:len("https://app.example.com/")] == "https://app.example.com/"
		},
	}
	for _, m := range mutate {
		m(&opts)
	}
	e := &env{store: st, payments: billingtest.NewPayments(), notifier: notify.NewLocal()}
	e.db, _ = st.(*store.Store)
	e.svc = billing.NewService(st, e.payments, e.notifier, opts)
	return e
}

// newSQLiteEnv is the usual env: an in-memory SQLite store.
func newSQLiteEnv(tb testing.TB, mutate ...func(*billing.Options)) *env {
	return newEnv(tb, storetest.OpenSQLite(tb), mutate...)
}

// messages returns the messages committed for org so far, in enqueue order.
func (e *env) messages(tb testing.TB, org string) []billing.Message {
	tb.Helper()
	if e.db == nil {
		tb.Fatal("messages: the env's store is wrapped; open it with storetest")
	}
	var out []billing.Message
	for _, m := range storetest.Messages(tb, e.db) {
		if m.OrgID == org {
			out = append(out, m)
		}
	}
	return out
}

func caller(org string) billing.Caller {
	return billing.Caller{OrgID: org, UserID: "user_" + org, Email: org + "@example.com"}
}

// ensureOrg makes the org row exist, as its first checkout would.
func (e *env) ensureOrg(tb testing.TB, org string) {
	tb.Helper()
	if _, err := e.store.EnsureOrganization(context.Background(), billing.Organization{ID: org, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		tb.Fatalf("ensure org: %v", err)
	}
}

func (e *env) entitlement(tb testing.TB, org string) billing.EntitlementView {
	tb.Helper()
	v, err := e.svc.Entitlement(context.Background(), org)
	if err != nil {
		tb.Fatalf("Entitlement(%s): %v", org, err)
	}
	return v
}

func (e *env) handle(tb testing.TB, ev billing.Event) billing.EventResult {
	tb.Helper()
	res, err := e.svc.HandleEvent(context.Background(), ev)
	if err != nil {
		tb.Fatalf("HandleEvent(%s %s): %v", ev.Type, ev.ID, err)
	}
	return res
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// subEvent builds a subscription event for org's subscription subID.
func subEvent(id, typ, org, subID string, status billing.Status, created time.Time) billing.Event {
	periodEnd := created.Add(30 * 24 * time.Hour)
	return billing.Event{ID: id, Type: typ, Created: created, Subscription: &billing.Subscription{
		ID: subID, CustomerID: "cus_" + org, MetadataOrgID: org, Status: status, PriceID: "price_pro_monthly",
		LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 1, CurrentPeriodEnd: &periodEnd,
	}}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := billing.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// mustHaveNoRows checks that nothing was stored for org: reading an org's
// entitlement never creates its org or entitlement row.
func (e *env) mustHaveNoRows(tb testing.TB, org string) {
	tb.Helper()
	_, err := e.store.Organization(context.Background(), org)
	mustNotFound(tb, err, "org row after a read")
	_, err = e.store.Entitlement(context.Background(), org)
	mustNotFound(tb, err, "entitlement row after a read")
}

func mustNotFound(tb testing.TB, err error, what string) {
	tb.Helper()
	if !errors.Is(err, billing.ErrNotFound) {
		tb.Fatalf("%s: err = %v, want ErrNotFound (nothing written)", what, err)
	}
}
