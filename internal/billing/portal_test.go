package billing_test

import (
	"context"
	"testing"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
)

// withCustomer makes org exist with a Stripe Customer, as after its first checkout.
func (e *env) withCustomer(tb testing.TB, org, customerID string) {
	tb.Helper()
	e.ensureOrg(tb, org)
	if _, err := e.store.SetCustomerID(context.Background(), org, customerID); err != nil {
		tb.Fatalf("set customer: %v", err)
	}
}

func TestPortalSession(t *testing.T) {
	t.Run("OK/DefaultReturnURL", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.withCustomer(t, "org_a", "cus_a")
		url, err := e.svc.PortalSession(context.Background(), caller("org_a"), "")
		if err != nil {
			t.Fatal(err)
		}
		want := billingtest.FakePortal{CustomerID: "cus_a", ReturnURL: "https://app.example.com/billing", URL: url}
		if got := e.payments.Portals(); len(got) != 1 || got[0] != want {
			t.Fatalf("portal sessions = %+v, want [%+v]", got, want)
		}
	})
	t.Run("OK/GivenReturnURL", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.withCustomer(t, "org_a", "cus_a")
		if _, err := e.svc.PortalSession(context.Background(), caller("org_a"), "https://app.example.com/settings"); err != nil {
			t.Fatal(err)
		}
		if got := e.payments.Portals(); len(got) != 1 || got[0].ReturnURL != "https://app.example.com/settings" {
			t.Fatalf("portal sessions = %+v, want the given return URL", got)
		}
	})
	t.Run("OK/DefaultReturnURLOption", func(t *testing.T) {
		e := newSQLiteEnv(t, func(o *billing.Options) { o.DefaultReturnURL = "https://app.example.com/account" })
		e.withCustomer(t, "org_a", "cus_a")
		if _, err := e.svc.PortalSession(context.Background(), caller("org_a"), ""); err != nil {
			t.Fatal(err)
		}
		if got := e.payments.Portals(); len(got) != 1 || got[0].ReturnURL != "https://app.example.com/account" {
			t.Fatalf("portal sessions = %+v, want DefaultReturnURL", got)
		}
	})
	t.Run("ErrNotFound/NoOrg", func(t *testing.T) {
		e := newSQLiteEnv(t)
		_, err := e.svc.PortalSession(context.Background(), caller("org_new"), "")
		assertCode(t, err, billing.ENotFound, "No billing customer for this organization")
		if _, err := e.store.Organization(context.Background(), "org_new"); err == nil {
			t.Fatal("asking for the portal created the org row")
		}
		assertNoStripeCalls(t, e)
	})
	t.Run("ErrNotFound/NoCustomer", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.ensureOrg(t, "org_a")
		_, err := e.svc.PortalSession(context.Background(), caller("org_a"), "")
		assertCode(t, err, billing.ENotFound, "No billing customer for this organization")
		assertNoStripeCalls(t, e)
	})
	t.Run("ErrBadRequest/ReturnURLNotAllowed", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.withCustomer(t, "org_a", "cus_a")
		for _, u := range []string{"https://evil.example.net/", "javascript:alert(1)", "/billing"} {
			_, err := e.svc.PortalSession(context.Background(), caller("org_a"), u)
			assertCode(t, err, billing.EBadRequest, "returnUrl must be an absolute URL on an allowed origin")
		}
		assertNoStripeCalls(t, e)
	})
	t.Run("ErrForbidden/NoOrg", func(t *testing.T) {
		e := newSQLiteEnv(t)
		_, err := e.svc.PortalSession(context.Background(), billing.Caller{UserID: "user_1"}, "")
		assertCode(t, err, billing.EForbidden, "Token has no organization claim")
	})
	t.Run("ErrUpstream", func(t *testing.T) {
		e := newSQLiteEnv(t)
		e.withCustomer(t, "org_a", "cus_a")
		e.payments.Fail = billing.Errorf(billing.EUpstream, "Stripe request failed")
		_, err := e.svc.PortalSession(context.Background(), caller("org_a"), "")
		assertCode(t, err, billing.EUpstream, "Stripe request failed")
	})
}

func assertCode(t *testing.T, err error, code, message string) {
	t.Helper()
	if billing.ErrorCode(err) != code || billing.ErrorMessage(err) != message {
		t.Fatalf("err = %v, want %s %q", err, code, message)
	}
}

func assertNoStripeCalls(t *testing.T, e *env) {
	t.Helper()
	if calls := e.payments.Calls(); len(calls) != 0 {
		t.Fatalf("Stripe calls = %v, want none", calls)
	}
}
