package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
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

func testTimes(t *testing.T, s *store.Store) {
	t.Run("Times/RoundTripInUTCToTheMicrosecond", func(t *testing.T) {
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		at := time.Date(2031, 7, 8, 9, 10, 11, 987654321, zone)
		want := at.UTC().Truncate(time.Microsecond)
		e := entitlement(uniqueID(t, "org"), 1)
		e.TrialEnd, e.CurrentPeriodEnd, e.EventCreated, e.UpdatedAt = &at, &at, at, at
		if err := s.SaveEntitlement(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		got, err := s.Entitlement(t.Context(), e.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		for name, tm := range map[string]time.Time{
			"TrialEnd": *got.TrialEnd, "CurrentPeriod": *got.CurrentPeriodEnd,
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
		OrgID: orgID, SubscriptionPlan: "pro", Status: billing.StatusTrialing, SubscriptionID: "sub_1",
		PriceID: "price_1", Interval: billing.Month, Seats: seats, TrialEnd: &trialEnd,
		CurrentPeriodEnd: &periodEnd, CancelAtPeriodEnd: false, EventCreated: t0, UpdatedAt: t0.Add(time.Second),
	}
}

func subscription(id, orgID string) billing.SubscriptionState {
	trialEnd, periodEnd := t0.Add(14*24*time.Hour), t0.Add(30*24*time.Hour)
	return billing.SubscriptionState{
		Subscription: billing.Subscription{
			ID: id, CustomerID: "cus_1", Status: billing.StatusTrialing,
			PriceID: "price_1", LookupKey: "pro_monthly", Interval: billing.Month, Quantity: 2,
			TrialEnd: &trialEnd, CurrentPeriodEnd: &periodEnd,
		},
		OrgID: orgID, Plan: "pro", EventCreated: t0, UpdatedAt: t0.Add(time.Second),
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
