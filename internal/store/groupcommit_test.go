package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

// Group commit on SQLite: transactions that queue behind the writer commit
// together, each with its own outcome.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	org := func(id string) billing.Organization {
		return billing.Organization{ID: id, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	}
	// batch holds the writer with a first transaction until each of txs waits
	// behind it, then lets them all run; it returns each one's InTx result
	// (a panic as its value) and the statements the store ran meanwhile.
	batch := func(t *testing.T, s *store.Store, first func(billing.Store) error, txs ...func(billing.Store) error) ([]any, *statementLog) {
		t.Helper()
		var cost statementLog
		if err := store.ObserveStatements(s, cost.add); err != nil {
			t.Fatal(err)
		}
		results := make([]any, len(txs)+1)
		hold, held := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			results[0] = s.InTx(ctx, func(tx billing.Store) error {
				close(held)
				<-hold
				return first(tx)
			})
		})
		<-held
		for i, fn := range txs {
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						results[i+1] = p
					}
				}()
				results[i+1] = s.InTx(ctx, fn)
			})
			waitFor(t, func() bool { return store.QueuedWriters(s) == i+1 })
		}
		close(hold)
		wg.Wait()
		return results, &cost
	}
	ensure := func(id string) func(billing.Store) error {
		return func(tx billing.Store) error {
			_, err := tx.EnsureOrganization(ctx, org(id))
			return err
		}
	}
	stored := func(t *testing.T, s *store.Store, id string) bool {
		t.Helper()
		_, err := s.Organization(ctx, id)
		if err != nil && !errors.Is(err, billing.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	errRefused := errors.New("refused")

	t.Run("EachKeepsItsOutcomeInOneCommit", func(t *testing.T) {
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		results, cost := batch(t, s, ensure("org_first"),
			ensure("org_a"),
			func(tx billing.Store) error { // writes, then fails: its write is undone
				if err := ensure("org_failed")(tx); err != nil {
					return err
				}
				return errRefused
			},
			func(tx billing.Store) error { // sees the writes of those before it
				if _, err := tx.Organization(ctx, "org_a"); err != nil {
					return err
				}
				return ensure("org_b")(tx)
			},
			func(tx billing.Store) error {
				if err := ensure("org_panicked")(tx); err != nil {
					return err
				}
				panic("boom")
			},
			ensure("org_c"),
		)
		want := []any{nil, nil, errRefused, nil, "boom", nil}
		for i, got := range results {
			if err, ok := got.(error); ok && want[i] != nil {
				if !errors.Is(err, want[i].(error)) {
					t.Errorf("transaction %d: %v, want %v", i, got, want[i])
				}
			} else if got != want[i] {
				t.Errorf("transaction %d: %v, want %v", i, got, want[i])
			}
		}
		for id, want := range map[string]bool{
			"org_first": true, "org_a": true, "org_b": true, "org_c": true, "org_failed": false, "org_panicked": false,
		} {
			if got := stored(t, s, id); got != want {
				t.Errorf("%s stored = %v, want %v", id, got, want)
			}
		}
		if n := strings.Count(cost.String(), "SAVEPOINT"); n != 5 {
			t.Errorf("%d savepoints, want one for each of the 5 that joined the first one's transaction:\n%s", n, cost)
		}
	})

	t.Run("FailedCommitFailsAll", func(t *testing.T) {
		// The transaction's deadline passes while a joined one runs: the
		// batch cannot commit, so none of them may report success.
		const timeout = 300 * time.Millisecond
		s := storetest.MustOpenWith(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"), store.Options{Timeout: timeout})
		results, _ := batch(t, s, ensure("org_first"),
			ensure("org_a"),
			func(tx billing.Store) error {
				time.Sleep(timeout)
				return nil
			},
		)
		for i, got := range results {
			err, _ := got.(error)
			if billing.ErrorCode(err) != billing.EUnavailable {
				t.Errorf("transaction %d: %v, want EUnavailable", i, got)
			}
		}
		for _, id := range []string{"org_first", "org_a"} {
			if stored(t, s, id) {
				t.Errorf("%s stored, though its commit failed", id)
			}
		}
	})

	t.Run("FailedRollbackFailsAllAndAnswersEveryone", func(t *testing.T) {
		// A job fails after the deadline, so its rollback to the savepoint
		// fails too: the batch must not commit, and the jobs taken with it
		// but not run yet must still hear so rather than wait for good.
		const timeout = 300 * time.Millisecond
		s := storetest.MustOpenWith(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"), store.Options{Timeout: timeout})
		results, _ := batch(t, s, ensure("org_first"),
			func(tx billing.Store) error {
				if err := ensure("org_slow")(tx); err != nil {
					return err
				}
				time.Sleep(timeout)
				return errRefused
			},
			ensure("org_b"),
			ensure("org_c"),
		)
		for i, got := range results {
			if err, _ := got.(error); err == nil {
				t.Errorf("transaction %d: %v, want an error", i, got)
			}
		}
		for _, id := range []string{"org_first", "org_slow", "org_b", "org_c"} {
			if stored(t, s, id) {
				t.Errorf("%s stored, though the batch could not commit", id)
			}
		}
	})

	t.Run("ACallerHangingUpEndsNoOnesWork", func(t *testing.T) {
		// On SQLite an interrupted write can roll back the whole
		// transaction: one joined caller's cancellation must not take the
		// others' work with it.
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		hungUp, hangUp := context.WithCancel(ctx)
		results, _ := batch(t, s, ensure("org_first"),
			ensure("org_a"),
			func(tx billing.Store) error {
				hangUp()
				_, err := tx.EnsureOrganization(hungUp, org("org_hung_up"))
				return err
			},
			ensure("org_b"),
		)
		for i, got := range results {
			if got != nil {
				t.Errorf("transaction %d: %v, want it committed", i, got)
			}
		}
		for _, id := range []string{"org_first", "org_a", "org_hung_up", "org_b"} {
			if !stored(t, s, id) {
				t.Errorf("%s not stored", id)
			}
		}
	})

	t.Run("AloneIsAPlainTransaction", func(t *testing.T) {
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		var cost statementLog
		if err := store.ObserveStatements(s, cost.add); err != nil {
			t.Fatal(err)
		}
		if err := s.InTx(ctx, ensure("org_alone")); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cost.String(), "SAVEPOINT") {
			t.Errorf("a lone transaction made a savepoint:\n%s", &cost)
		}
	})

	t.Run("GivingUpInLineRunsNothing", func(t *testing.T) {
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		hold, held := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = s.InTx(ctx, func(tx billing.Store) error {
				close(held)
				<-hold
				return ensure("org_first")(tx)
			})
		})
		<-held
		waiting, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- s.InTx(waiting, ensure("org_gave_up")) }()
		waitFor(t, func() bool { return store.QueuedWriters(s) == 1 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		close(hold)
		wg.Wait()
		if stored(t, s, "org_gave_up") {
			t.Error("a transaction that gave up in line was run")
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
