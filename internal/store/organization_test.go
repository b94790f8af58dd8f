package store_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

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
