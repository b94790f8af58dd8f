package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// t0 has microseconds, the precision the store keeps.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

var errBoom = errors.New("boom")

// TestStore is the specification of billing.Store, run against SQLite and
// PostgreSQL. Subtests share one database per kind and use ids of their own.
func TestStore(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		testOrganizations(t, s)
		testCustomerID(t, s)
		testEntitlements(t, s)
		testSubscriptions(t, s)
		testCheckoutSessions(t, s)
		testEvents(t, s)
		testTransactions(t, s)
		testPayments(t, s)
		testIdempotentResponses(t, s)
		testTimes(t, s)
	})
}

func testOrganizations(t *testing.T, s *store.Store) {
	t.Run("Ping/OK", func(t *testing.T) {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EnsureOrganization/Inserts", func(t *testing.T) {
		want := billing.Organization{ID: uniqueID(t, "org"), BillingEmail: "a@example.com", CreatedAt: t0, UpdatedAt: t0.Add(time.Second)}
		got, err := s.EnsureOrganization(t.Context(), want)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
		stored, err := s.Organization(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, stored, want)
	})
	t.Run("EnsureOrganization/KeepsExisting", func(t *testing.T) {
		first := billing.Organization{ID: uniqueID(t, "org"), BillingEmail: "first@example.com", CreatedAt: t0, UpdatedAt: t0}
		if _, err := s.EnsureOrganization(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		second := first
		second.BillingEmail, second.CreatedAt = "second@example.com", t0.Add(time.Hour)
		got, err := s.EnsureOrganization(t.Context(), second)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, first)
	})
	t.Run("EnsureOrganization/StampsZeroTimes", func(t *testing.T) {
		got, err := s.EnsureOrganization(t.Context(), billing.Organization{ID: uniqueID(t, "org")})
		if err != nil {
			t.Fatal(err)
		}
		if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
			t.Fatalf("times not set: %+v", got)
		}
	})
	t.Run("Organization/ErrNotFound", func(t *testing.T) {
		_, err := s.Organization(t.Context(), "org_missing")
		assertNotFound(t, err)
	})
	t.Run("LockOrganization/OK", func(t *testing.T) {
		org := ensureOrg(t, s)
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			got, err := tx.LockOrganization(t.Context(), org.ID)
			if err == nil && got.ID != org.ID {
				t.Errorf("locked %q, want %q", got.ID, org.ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.LockOrganization(t.Context(), org.ID); err != nil {
			t.Fatalf("outside a transaction: %v", err)
		}
	})
	t.Run("LockOrganization/ErrNotFound", func(t *testing.T) {
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			_, err := tx.LockOrganization(t.Context(), "org_missing")
			return err
		})
		assertNotFound(t, err)
	})
	t.Run("LockOrganization/SerializesTransactions", func(t *testing.T) {
		// The second transaction locks the org while the first holds it, so it
		// must see what the first wrote before committing.
		org := ensureOrg(t, s)
		locked, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- s.InTx(t.Context(), func(tx billing.Store) error {
				if _, err := tx.LockOrganization(t.Context(), org.ID); err != nil {
					return err
				}
				close(locked)
				time.Sleep(200 * time.Millisecond)
				return tx.SaveEntitlement(t.Context(), entitlement(org.ID, 7))
			})
		}()
		<-locked
		var seen int
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			if _, err := tx.LockOrganization(t.Context(), org.ID); err != nil {
				return err
			}
			e, err := tx.Entitlement(t.Context(), org.ID)
			seen = e.Seats
			return err
		})
		if err := <-done; err != nil {
			t.Fatalf("first transaction: %v", err)
		}
		if err != nil || seen != 7 {
			t.Fatalf("second transaction saw seats=%d err=%v, want the first one's write (7)", seen, err)
		}
	})
}

func testCustomerID(t *testing.T, s *store.Store) {
	t.Run("SetCustomerID/SetsOnce", func(t *testing.T) {
		org := ensureOrg(t, s)
		got, err := s.SetCustomerID(t.Context(), org.ID, uniqueID(t, "cus_first"))
		if err != nil {
			t.Fatal(err)
		}
		if got.StripeCustomerID != uniqueID(t, "cus_first") {
			t.Fatalf("customer = %q", got.StripeCustomerID)
		}
		got, err = s.SetCustomerID(t.Context(), org.ID, uniqueID(t, "cus_second"))
		if err != nil {
			t.Fatal(err)
		}
		if got.StripeCustomerID != uniqueID(t, "cus_first") {
			t.Fatalf("second call returned customer %q, want the first one", got.StripeCustomerID)
		}
	})
	t.Run("SetCustomerID/ErrNotFound", func(t *testing.T) {
		_, err := s.SetCustomerID(t.Context(), "org_missing", uniqueID(t, "cus"))
		assertNotFound(t, err)
	})
	t.Run("SetCustomerID/ConcurrentCallsAgreeOnWinner", func(t *testing.T) {
		org := ensureOrg(t, s)
		candidates := make(map[string]bool)
		got := make([]string, 10)
		errs := make([]error, 10)
		var wg sync.WaitGroup
		for i := range got {
			cus := uniqueID(t, "cus_"+strconv.Itoa(i))
			candidates[cus] = true
			wg.Go(func() {
				o, err := s.SetCustomerID(t.Context(), org.ID, cus)
				got[i], errs[i] = o.StripeCustomerID, err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if c != got[0] || !candidates[c] {
				t.Fatalf("callers saw different customers: %q", got)
			}
		}
		stored, err := s.Organization(t.Context(), org.ID)
		if err != nil || stored.StripeCustomerID != got[0] {
			t.Fatalf("stored customer %q (err %v), callers saw %q", stored.StripeCustomerID, err, got[0])
		}
	})
	t.Run("SetCustomerID/UniqueAcrossOrganizations", func(t *testing.T) {
		a, b := ensureOrgID(t, s, "org_a"), ensureOrgID(t, s, "org_b")
		cus := uniqueID(t, "cus")
		if _, err := s.SetCustomerID(t.Context(), a.ID, cus); err != nil {
			t.Fatal(err)
		}
		_, err := s.SetCustomerID(t.Context(), b.ID, cus)
		if err == nil || errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("linking a second org to the customer: err = %v, want a failure", err)
		}
		stored, err := s.Organization(t.Context(), b.ID)
		if err != nil || stored.StripeCustomerID != "" {
			t.Fatalf("second org has customer %q (err %v), want none", stored.StripeCustomerID, err)
		}
	})
	t.Run("OrganizationByCustomer/OK", func(t *testing.T) {
		org := ensureOrg(t, s)
		if _, err := s.SetCustomerID(t.Context(), org.ID, uniqueID(t, "cus")); err != nil {
			t.Fatal(err)
		}
		got, err := s.OrganizationByCustomer(t.Context(), uniqueID(t, "cus"))
		if err != nil || got.ID != org.ID {
			t.Fatalf("got org %q, err %v; want %q", got.ID, err, org.ID)
		}
	})
	t.Run("OrganizationByCustomer/ErrNotFound", func(t *testing.T) {
		_, err := s.OrganizationByCustomer(t.Context(), "cus_missing")
		assertNotFound(t, err)
		_, err = s.OrganizationByCustomer(t.Context(), "")
		assertNotFound(t, err)
	})
}

func testEntitlements(t *testing.T, s *store.Store) {
	t.Run("Entitlement/ErrNotFound", func(t *testing.T) {
		_, err := s.Entitlement(t.Context(), "org_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveEntitlement/Inserts", func(t *testing.T) {
		want := entitlement(uniqueID(t, "org"), 3)
		if err := s.SaveEntitlement(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Entitlement(t.Context(), want.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
	t.Run("SaveEntitlement/Replaces", func(t *testing.T) {
		first := entitlement(uniqueID(t, "org"), 3)
		if err := s.SaveEntitlement(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		want := billing.Entitlement{
			OrgID: first.OrgID, Plan: billing.FreePlan, Status: billing.StatusCanceled,
			SubscriptionID: "sub_2", EventCreated: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour),
		}
		if err := s.SaveEntitlement(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Entitlement(t.Context(), want.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
	t.Run("EntitlementsOf/ThoseThatHaveOne", func(t *testing.T) {
		a, b := entitlement(uniqueID(t, "org_a"), 1), entitlement(uniqueID(t, "org_b"), 2)
		for _, e := range []billing.Entitlement{a, b, entitlement(uniqueID(t, "org_not_asked"), 3)} {
			if err := s.SaveEntitlement(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.EntitlementsOf(t.Context(), []string{b.OrgID, "org_missing", a.OrgID})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(x, y billing.Entitlement) int { return strings.Compare(x.OrgID, y.OrgID) })
		assertEqual(t, got, []billing.Entitlement{a, b})
	})
	t.Run("EntitlementsOf/NoneIsEmpty", func(t *testing.T) {
		for _, ids := range [][]string{nil, {"org_missing"}} {
			got, err := s.EntitlementsOf(t.Context(), ids)
			if err != nil || len(got) != 0 {
				t.Fatalf("EntitlementsOf(%v) = %v, %v; want none and no error", ids, got, err)
			}
		}
	})
}

func testSubscriptions(t *testing.T, s *store.Store) {
	t.Run("Subscription/ErrNotFound", func(t *testing.T) {
		_, err := s.Subscription(t.Context(), "sub_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveSubscription/InsertsAndReplaces", func(t *testing.T) {
		want := subscription(uniqueID(t, "sub"), uniqueID(t, "org"))
		if err := s.SaveSubscription(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Subscription(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)

		want.Status, want.CancelAtPeriodEnd, want.TrialEnd = billing.StatusActive, true, nil
		want.EventCreated = t0.Add(time.Minute)
		if err := s.SaveSubscription(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err = s.Subscription(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
	t.Run("SubscriptionsByOrg/OrderedByID", func(t *testing.T) {
		org := uniqueID(t, "org")
		for _, id := range []string{"sub_c", "sub_a", "sub_b"} {
			if err := s.SaveSubscription(t.Context(), subscription(uniqueID(t, id), org)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveSubscription(t.Context(), subscription(uniqueID(t, "sub_other"), "org_other")); err != nil {
			t.Fatal(err)
		}
		got, err := s.SubscriptionsByOrg(t.Context(), org)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, st := range got {
			ids = append(ids, st.ID)
		}
		assertEqual(t, ids, []string{uniqueID(t, "sub_a"), uniqueID(t, "sub_b"), uniqueID(t, "sub_c")})
	})
	t.Run("SubscriptionsByOrg/NoneIsEmpty", func(t *testing.T) {
		got, err := s.SubscriptionsByOrg(t.Context(), "org_missing")
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want none and no error", got, err)
		}
	})
}

func testCheckoutSessions(t *testing.T, s *store.Store) {
	t.Run("CheckoutSession/ErrNotFound", func(t *testing.T) {
		_, err := s.CheckoutSession(t.Context(), "cs_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveCheckoutSession/InsertsAndReplaces", func(t *testing.T) {
		want := checkoutSession(uniqueID(t, "cs"), uniqueID(t, "org"), billing.CheckoutOpen, t0, t0.Add(time.Hour))
		if err := s.SaveCheckoutSession(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.CheckoutSession(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)

		want.Status, want.SubscriptionID, want.CustomerID = billing.CheckoutComplete, "sub_1", "cus_1"
		want.UpdatedAt = t0.Add(time.Minute)
		if err := s.SaveCheckoutSession(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err = s.CheckoutSession(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
	t.Run("SaveCheckoutSession/KeepsCreatedAt", func(t *testing.T) {
		cs := checkoutSession(uniqueID(t, "cs"), uniqueID(t, "org"), billing.CheckoutOpen, t0, t0.Add(time.Hour))
		if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
			t.Fatal(err)
		}
		cs.CreatedAt = time.Time{}
		if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
			t.Fatal(err)
		}
		got, err := s.CheckoutSession(t.Context(), cs.ID)
		if err != nil || !got.CreatedAt.Equal(t0) {
			t.Fatalf("created at %v (err %v), want %v", got.CreatedAt, err, t0)
		}
	})
	t.Run("OpenCheckoutSession/NewestOpenNotExpired", func(t *testing.T) {
		org := uniqueID(t, "org")
		for _, cs := range []billing.CheckoutSession{
			checkoutSession(uniqueID(t, "cs_old"), org, billing.CheckoutOpen, t0, t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_want"), org, billing.CheckoutOpen, t0.Add(time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_expired"), org, billing.CheckoutOpen, t0.Add(2*time.Minute), t0.Add(5*time.Minute)),
			checkoutSession(uniqueID(t, "cs_complete"), org, billing.CheckoutComplete, t0.Add(3*time.Minute), t0.Add(time.Hour)),
			checkoutSession(uniqueID(t, "cs_other_org"), "org_other", billing.CheckoutOpen, t0.Add(4*time.Minute), t0.Add(time.Hour)),
		} {
			if err := s.SaveCheckoutSession(t.Context(), cs); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.OpenCheckoutSession(t.Context(), org, t0.Add(10*time.Minute))
		if err != nil || got.ID != uniqueID(t, "cs_want") {
			t.Fatalf("got %q, %v; want %q", got.ID, err, uniqueID(t, "cs_want"))
		}
		_, err = s.OpenCheckoutSession(t.Context(), org, t0.Add(time.Hour))
		assertNotFound(t, err)
	})
	t.Run("OpenCheckoutSession/ComparesSubSecondExpiry", func(t *testing.T) {
		org := uniqueID(t, "org")
		expires := t0.Truncate(time.Second) // a whole second: stored without fraction
		if err := s.SaveCheckoutSession(t.Context(), checkoutSession(uniqueID(t, "cs"), org, billing.CheckoutOpen, t0.Add(-time.Hour), expires)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at   time.Time
			open bool
		}{
			{expires.Add(-500 * time.Millisecond), true},
			{expires.Add(-time.Microsecond), true},
			{expires, false},
			{expires.Add(time.Microsecond), false},
			{expires.Add(500 * time.Millisecond), false},
		} {
			_, err := s.OpenCheckoutSession(t.Context(), org, tc.at)
			if open := err == nil; open != tc.open || (err != nil && !errors.Is(err, billing.ErrNotFound)) {
				t.Errorf("at %v: err = %v, want open = %v", tc.at, err, tc.open)
			}
		}
	})
}

func testEvents(t *testing.T, s *store.Store) {
	t.Run("RecordEvent/OK", func(t *testing.T) {
		if err := s.RecordEvent(t.Context(), event(uniqueID(t, "evt"))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RecordEvent/ErrDuplicateEvent", func(t *testing.T) {
		ev := event(uniqueID(t, "evt"))
		if err := s.RecordEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordEvent(t.Context(), ev); !errors.Is(err, billing.ErrDuplicateEvent) {
			t.Fatalf("err = %v, want ErrDuplicateEvent", err)
		}
	})
	for _, tc := range []struct {
		name        string
		effectFirst bool
	}{{"RecordThenEffect", false}, {"EffectThenRecord", true}} {
		t.Run("RecordEvent/ConcurrentDeliveriesApplyOnce/"+tc.name, func(t *testing.T) {
			orgID, eventID := uniqueID(t, "org"), uniqueID(t, "evt")
			const n = 10
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = s.InTx(t.Context(), func(tx billing.Store) error {
						steps := []func() error{
							func() error { return tx.RecordEvent(t.Context(), event(eventID)) },
							func() error { return tx.SaveEntitlement(t.Context(), entitlement(orgID, i+1)) },
						}
						if tc.effectFirst {
							steps[0], steps[1] = steps[1], steps[0]
						}
						for _, step := range steps {
							if err := step(); err != nil {
								return err
							}
						}
						return nil
					})
				})
			}
			close(start)
			wg.Wait()
			winner, duplicates := -1, 0
			for i, err := range errs {
				switch {
				case err == nil:
					winner = i
				case errors.Is(err, billing.ErrDuplicateEvent):
					duplicates++
				default:
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			if winner < 0 || duplicates != n-1 {
				t.Fatalf("%d duplicates and winner %d; want exactly one success", duplicates, winner)
			}
			e, err := s.Entitlement(t.Context(), orgID)
			if err != nil || e.Seats != winner+1 {
				t.Fatalf("entitlement seats %d (err %v), want the winner's %d", e.Seats, err, winner+1)
			}
		})
	}
}

func testTransactions(t *testing.T, s *store.Store) {
	t.Run("InTx/RollsBackOnError", func(t *testing.T) {
		orgID, ev := uniqueID(t, "org"), event(uniqueID(t, "evt"))
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			if err := tx.RecordEvent(t.Context(), ev); err != nil {
				return err
			}
			if err := tx.SaveEntitlement(t.Context(), entitlement(orgID, 1)); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want fn's error", err)
		}
		assertNothingWritten(t, s, orgID, ev)
	})
	t.Run("InTx/RollsBackOnPanic", func(t *testing.T) {
		orgID, ev := uniqueID(t, "org"), event(uniqueID(t, "evt"))
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic was not propagated")
				}
			}()
			_ = s.InTx(t.Context(), func(tx billing.Store) error {
				if err := tx.RecordEvent(t.Context(), ev); err != nil {
					return err
				}
				if err := tx.SaveEntitlement(t.Context(), entitlement(orgID, 1)); err != nil {
					return err
				}
				panic(errBoom)
			})
		}()
		assertNothingWritten(t, s, orgID, ev)
	})
	t.Run("InTx/NestedReusesTransaction", func(t *testing.T) {
		orgID, ev := uniqueID(t, "org"), event(uniqueID(t, "evt"))
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			err := tx.InTx(t.Context(), func(inner billing.Store) error {
				if err := inner.RecordEvent(t.Context(), ev); err != nil {
					return err
				}
				return inner.SaveEntitlement(t.Context(), entitlement(orgID, 1))
			})
			if err != nil {
				return err
			}
			if _, err := tx.Entitlement(t.Context(), orgID); err != nil {
				t.Errorf("outer transaction does not see the nested write: %v", err)
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want fn's error", err)
		}
		assertNothingWritten(t, s, orgID, ev)
	})
	t.Run("InTx/Commits", func(t *testing.T) {
		orgID := uniqueID(t, "org")
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			return tx.SaveEntitlement(t.Context(), entitlement(orgID, 1))
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Entitlement(t.Context(), orgID); err != nil {
			t.Fatal(err)
		}
	})
}

func testPayments(t *testing.T, s *store.Store) {
	t.Run("Payment/ErrNotFound", func(t *testing.T) {
		_, err := s.Payment(t.Context(), "in_missing")
		assertNotFound(t, err)
	})
	t.Run("SavePayment/InsertsAndReplaces", func(t *testing.T) {
		want := billing.Payment{
			InvoiceID: uniqueID(t, "in"), OrgID: "org_1", SubscriptionID: "sub_1",
			AmountDue: 1_999_999_999_999, AmountPaid: 0, Currency: "eur", Status: "open",
			HostedInvoiceURL: "https://invoice.example/1", EventCreated: t0, CreatedAt: t0.Add(-time.Minute),
		}
		if err := s.SavePayment(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Payment(t.Context(), want.InvoiceID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)

		want.AmountPaid, want.Status, want.EventCreated = want.AmountDue, "paid", t0.Add(time.Minute)
		if err := s.SavePayment(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err = s.Payment(t.Context(), want.InvoiceID)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, want)
	})
}

func testIdempotentResponses(t *testing.T, s *store.Store) {
	t.Run("IdempotentResponse/ErrNotFound", func(t *testing.T) {
		_, err := s.IdempotentResponse(t.Context(), "org_1", "key_missing")
		assertNotFound(t, err)
	})
	t.Run("SaveIdempotentResponse/KeepsFirst", func(t *testing.T) {
		first := billing.IdempotentResponse{OrgID: uniqueID(t, "org"), Key: "key-1", RequestHash: "h1", SessionID: "cs_1", CreatedAt: t0}
		if err := s.SaveIdempotentResponse(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		second := first
		second.RequestHash, second.SessionID, second.CreatedAt = "h2", "cs_2", t0.Add(time.Hour)
		if err := s.SaveIdempotentResponse(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		got, err := s.IdempotentResponse(t.Context(), first.OrgID, first.Key)
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, first)
	})
	t.Run("SaveIdempotentResponse/KeyIsPerOrg", func(t *testing.T) {
		a := billing.IdempotentResponse{OrgID: uniqueID(t, "org_a"), Key: "k", RequestHash: "ha", SessionID: "cs_a", CreatedAt: t0}
		b := billing.IdempotentResponse{OrgID: uniqueID(t, "org_b"), Key: "k", RequestHash: "hb", SessionID: "cs_b", CreatedAt: t0}
		for _, r := range []billing.IdempotentResponse{a, b} {
			if err := s.SaveIdempotentResponse(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.IdempotentResponse(t.Context(), b.OrgID, "k")
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, got, b)
	})
}

func testTimes(t *testing.T, s *store.Store) {
	t.Run("Times/RoundTripInUTCToTheMicrosecond", func(t *testing.T) {
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		at := time.Date(2031, 7, 8, 9, 10, 11, 987654321, zone)
		want := at.UTC().Truncate(time.Microsecond)
		e := entitlement(uniqueID(t, "org"), 1)
		e.TrialEnd, e.CurrentPeriod, e.EventCreated, e.UpdatedAt = &at, &at, at, at
		if err := s.SaveEntitlement(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		got, err := s.Entitlement(t.Context(), e.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		for name, tm := range map[string]time.Time{
			"TrialEnd": *got.TrialEnd, "CurrentPeriod": *got.CurrentPeriod,
			"EventCreated": got.EventCreated, "UpdatedAt": got.UpdatedAt,
		} {
			if !tm.Equal(want) || tm.Location() != time.UTC {
				t.Errorf("%s = %v, want %v in UTC", name, tm, want)
			}
		}
	})
	t.Run("Times/ZeroEventCreatedRoundTrips", func(t *testing.T) {
		e := entitlement(uniqueID(t, "org"), 1)
		e.EventCreated = time.Time{}
		if err := s.SaveEntitlement(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		got, err := s.Entitlement(t.Context(), e.OrgID)
		if err != nil || !got.EventCreated.IsZero() {
			t.Fatalf("event created %v (err %v), want zero", got.EventCreated, err)
		}
	})
}

// uniqueID makes an id of its own for the running subtest.
func uniqueID(t *testing.T, prefix string) string {
	return prefix + "_" + strings.ReplaceAll(t.Name(), "/", "_")
}

func ensureOrg(t *testing.T, s *store.Store) billing.Organization {
	t.Helper()
	return ensureOrgID(t, s, "org")
}

func ensureOrgID(t *testing.T, s *store.Store, prefix string) billing.Organization {
	t.Helper()
	org, err := s.EnsureOrganization(t.Context(), billing.Organization{ID: uniqueID(t, prefix), CreatedAt: t0, UpdatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func entitlement(orgID string, seats int) billing.Entitlement {
	trialEnd, periodEnd := t0.Add(14*24*time.Hour), t0.Add(30*24*time.Hour)
	return billing.Entitlement{
		OrgID: orgID, Plan: "pro", Status: billing.StatusTrialing, SubscriptionID: "sub_1",
		PriceID: "price_1", Interval: billing.Month, Seats: seats, TrialEnd: &trialEnd,
		CurrentPeriod: &periodEnd, CancelAtPeriod: false, EventCreated: t0, UpdatedAt: t0.Add(time.Second),
	}
}

func subscription(id, orgID string) billing.SubscriptionState {
	trialEnd, periodEnd := t0.Add(14*24*time.Hour), t0.Add(30*24*time.Hour)
	return billing.SubscriptionState{
		Subscription: billing.Subscription{
			ID: id, CustomerID: "cus_1", OrgID: orgID, Status: billing.StatusTrialing,
			PriceID: "price_1", LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 2,
			TrialEnd: &trialEnd, CurrentPeriodEnd: &periodEnd,
		},
		Plan: "pro", EventCreated: t0, UpdatedAt: t0.Add(time.Second),
	}
}

func checkoutSession(id, orgID string, status billing.CheckoutStatus, created, expires time.Time) billing.CheckoutSession {
	return billing.CheckoutSession{
		ID: id, OrgID: orgID, Plan: "team", Interval: billing.Year, PriceID: "price_team_yearly",
		Quantity: 5, Status: status, URL: "https://checkout.example/" + id, ExpiresAt: expires,
		CreatedBy: "user_1", RequestHash: "hash", CreatedAt: created, UpdatedAt: created,
	}
}

func event(id string) billing.EventRecord {
	return billing.EventRecord{
		ID: id, Type: "customer.subscription.updated", Created: t0, ReceivedAt: t0.Add(time.Second),
		OrgID: "org_1", Outcome: billing.OutcomeApplied,
	}
}

// assertNothingWritten checks that a rolled-back transaction left neither the
// entitlement nor the event receipt behind.
func assertNothingWritten(t *testing.T, s *store.Store, orgID string, ev billing.EventRecord) {
	t.Helper()
	_, err := s.Entitlement(context.Background(), orgID)
	assertNotFound(t, err)
	if err := s.RecordEvent(context.Background(), ev); err != nil {
		t.Fatalf("event was recorded by the rolled-back transaction: %v", err)
	}
}

func assertNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func assertEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}
