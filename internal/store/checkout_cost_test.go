package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/billing/billingtest"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// TestCheckoutCost is the budget of a checkout for an org that already has a
// Stripe Customer: one read before its one Stripe call, and one transaction
// after it (a single statement is a transaction of its own).
func TestCheckoutCost(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		payments := billingtest.NewPayments()
		svc := billing.NewService(s, payments, notify.NewLocal(), billing.Options{
			DefaultSuccessURL: "https://app.example.com/billing/success", DefaultCancelURL: "https://app.example.com/billing",
		})
		var cost statementLog
		if err := store.ObserveStatements(s, cost.add); err != nil {
			t.Fatal(err)
		}
		caller := billing.Caller{OrgID: uniqueID(t, "org"), UserID: "user_1", Email: "a@example.com"}
		checkout := func(key string) billing.CheckoutResult {
			t.Helper()
			res, err := svc.StartCheckout(ctx, caller, billing.CheckoutRequest{Plan: "pro"}, key)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		// expire ends the open session, as its webhook would, so that the
		// next checkout creates one.
		expire := func(id string) {
			t.Helper()
			cs, err := s.CheckoutSession(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			cs.Status = billing.CheckoutExpired
			if err := s.SaveCheckoutSession(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		expire(checkout("").SessionID) // creates the org and its Customer

		for _, tc := range []struct {
			name, key string
			want      []string // statement kinds, "tx:" when inside the one transaction
		}{
			{"WithoutIdempotencyKey", "", []string{"SELECT", "INSERT"}},
			{"WithIdempotencyKey", "key-1", []string{"SELECT", "tx:INSERT", "tx:INSERT"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				payments.ResetCalls()
				cost.reset()
				res := checkout(tc.key)
				if got := cost.kinds(); !slices.Equal(got, tc.want) {
					t.Errorf("statements = %v, want %v:\n%s", got, tc.want, &cost)
				}
				if n := cost.writeTransactions(); n != 1 {
					t.Errorf("%d write transactions, want 1:\n%s", n, &cost)
				}
				if calls := payments.Calls(); !slices.Equal(calls, []string{"checkout.sessions.create"}) {
					t.Errorf("stripe calls = %v, want one checkout.sessions.create", calls)
				}
				expire(res.SessionID)
			})
		}
		t.Run("IdenticalRepeatIsOneRead", func(t *testing.T) {
			checkout("")
			payments.ResetCalls()
			cost.reset()
			checkout("")
			if got := cost.kinds(); !slices.Equal(got, []string{"SELECT"}) || len(payments.Calls()) != 0 {
				t.Errorf("statements = %v, stripe calls = %v; want one read and no call", got, payments.Calls())
			}
		})
	})
}

// statementLog records the statements a store ran.
type statementLog struct {
	mu    sync.Mutex
	stmts []string
	txs   []any // the transaction of each statement, nil outside one
}

func (l *statementLog) add(sql string, tx any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts, l.txs = append(l.stmts, sql), append(l.txs, tx)
}

func (l *statementLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts, l.txs = nil, nil
}

// kinds are the statements' first words, prefixed "tx:" inside a transaction.
func (l *statementLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.stmts))
	for i, s := range l.stmts {
		kind, _, _ := strings.Cut(strings.TrimSpace(s), " ")
		if l.txs[i] != nil {
			kind = "tx:" + kind
		}
		out[i] = kind
	}
	return out
}

// writeTransactions counts the explicit transactions, and each write outside
// one (a transaction of its own).
func (l *statementLog) writeTransactions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[any]bool{}
	n := 0
	for i, tx := range l.txs {
		switch {
		case tx == nil && !strings.HasPrefix(strings.TrimSpace(l.stmts[i]), "SELECT"):
			n++
		case tx != nil && !seen[tx]:
			seen[tx] = true
			n++
		}
	}
	return n
}

func (l *statementLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.stmts, "\n")
}

// TestCheckoutAllocations bounds what a checkout's two statements cost
// billingd's CPU: they are written out and scanned by hand, because GORM's
// reflection to build and scan them cost about as much as the database's own
// work. The budgets sit between what they allocate (SaveCheckoutSession 73,
// CheckoutState 213 on PostgreSQL and 244 on SQLite) and what they did
// through GORM (137; 249 and 278).
func TestCheckoutAllocations(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		org := ensureOrg(t, s).ID
		if _, err := s.SetCustomerID(ctx, org, uniqueID(t, "cus")); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveEntitlement(ctx, entitlement(org, 1)); err != nil {
			t.Fatal(err)
		}
		cs := checkoutSession(uniqueID(t, "cs"), org, billing.CheckoutOpen, t0, t0.Add(time.Hour))
		if err := s.SaveCheckoutSession(ctx, cs); err != nil {
			t.Fatal(err)
		}
		stateBudget := 230.0
		if s.Dialect() == store.DialectSQLite {
			stateBudget = 260
		}
		for _, tc := range []struct {
			name   string
			budget float64
			run    func() error
		}{
			{"CheckoutState", stateBudget, func() error {
				st, err := s.CheckoutState(ctx, org, "key-1", t0.Add(time.Minute))
				if err == nil && (st.OpenSession == nil || st.Entitlement == nil) {
					err = fmt.Errorf("state %+v lacks the stored rows", st)
				}
				return err
			}},
			{"SaveCheckoutSession", 100, func() error { return s.SaveCheckoutSession(ctx, cs) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var err error
				n := testing.AllocsPerRun(50, func() {
					if e := tc.run(); e != nil {
						err = e
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if n > tc.budget {
					t.Errorf("%s allocates %.0f times, budget %.0f", tc.name, n, tc.budget)
				}
			})
		}
	})
}
