package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/store/storetest"
)

func TestPools(t *testing.T) {
	t.Run("SQLiteFile/ReadsGoOnWhileAWriteTransactionIsOpen", func(t *testing.T) {
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		ensureOrg(t, s)
		err := holdTransaction(s, func() {
			if _, err := s.Organization(t.Context(), uniqueID(t, "org")); err != nil {
				t.Errorf("read while a transaction holds the writer: %v", err)
			}
		})
		if err != nil {
			t.Fatalf("held transaction: %v", err)
		}
	})
	t.Run("SQLiteFile/WriterIsOneConnection", func(t *testing.T) {
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		if n := s.WriterDB().Stats().MaxOpenConnections; n != 1 || s.Dialect() != store.DialectSQLite {
			t.Fatalf("writer of %s allows %d connections, want 1", s.Dialect(), n)
		}
	})
	t.Run("SQLiteFile/WriterPragmas", func(t *testing.T) {
		// Durable commits in WAL; savepoint journals in memory, which no
		// crash recovery reads.
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "temp_store": "2"} {
			var got string
			if err := s.WriterDB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("writer's %s = %s, want %s", pragma, got, want)
			}
		}
	})
	t.Run("SQLiteFile/MixedConcurrentLoadNeverLocked", func(t *testing.T) {
		// Transactions, single writes and reads at once: writers queue, readers
		// read beside them, and nothing fails with SQLITE_BUSY.
		s := storetest.MustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"))
		const workers, rounds = 24, 10
		errs := make(chan error, 3*workers*rounds)
		var wg sync.WaitGroup
		for w := range workers {
			org := fmt.Sprintf("org_%d", w)
			wg.Go(func() {
				for i := range rounds {
					errs <- s.InTx(t.Context(), func(tx billing.Store) error {
						if err := tx.RecordEvent(t.Context(), event(fmt.Sprintf("evt_%s_%d", org, i))); err != nil {
							return err
						}
						return tx.SaveEntitlement(t.Context(), entitlement(org, i+1))
					})
					_, err := s.EnsureOrganization(t.Context(), billing.Organization{ID: org})
					errs <- err
					if _, err := s.Entitlement(t.Context(), org); err != nil && !errors.Is(err, billing.ErrNotFound) {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("Postgres/ReadsGoOnWhileEveryWriterIsBusy", func(t *testing.T) {
		// A webhook burst that takes every write connection leaves the
		// entitlement reads their own pool.
		s := storetest.OpenPostgres(t)
		if s.Dialect() != store.DialectPostgres {
			t.Fatalf("dialect %s", s.Dialect())
		}
		ensureOrg(t, s)
		release := make(chan struct{})
		var held, done sync.WaitGroup
		for range s.WriterDB().Stats().MaxOpenConnections {
			held.Add(1)
			done.Go(func() {
				_ = s.InTx(context.Background(), func(tx billing.Store) error {
					if _, err := tx.Organization(context.Background(), uniqueID(t, "org")); err != nil {
						return err
					}
					held.Done()
					<-release
					return nil
				})
			})
		}
		held.Wait()
		_, err := s.Organization(t.Context(), uniqueID(t, "org"))
		close(release)
		done.Wait()
		if err != nil {
			t.Fatalf("read while every write connection is taken: %v", err)
		}
	})
}

func TestDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Run("TransactionPastItsDeadlineIsUnavailable", func(t *testing.T) {
		s := storetest.MustOpenWith(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"), store.Options{Timeout: timeout})
		orgID := uniqueID(t, "org")
		err := s.InTx(t.Context(), func(tx billing.Store) error {
			time.Sleep(timeout + 100*time.Millisecond)
			return tx.SaveEntitlement(t.Context(), entitlement(orgID, 1))
		})
		wantUnavailable(t, err)
		_, err = s.Entitlement(t.Context(), orgID)
		assertNotFound(t, err)
	})
	t.Run("WriterBehindAStuckOneIsUnavailable", func(t *testing.T) {
		s := storetest.MustOpenWith(t, "sqlite:"+filepath.Join(t.TempDir(), "billing.db"), store.Options{Timeout: timeout})
		held := holdTransaction(s, func() {
			wantUnavailable(t, s.SaveEntitlement(t.Context(), entitlement(uniqueID(t, "org"), 1)))
			wantUnavailable(t, s.InTx(t.Context(), func(billing.Store) error { return nil }))
		})
		wantUnavailable(t, held) // it held the writer past its own deadline too
	})
	t.Run("Postgres/HangingDatabaseIsUnavailableWithinTheDeadlineThenRecovers", func(t *testing.T) {
		const timeout = time.Second
		direct := storetest.PostgresURL(t)
		u, err := url.Parse(direct)
		if err != nil {
			t.Fatal(err)
		}
		proxy := storetest.StartProxy(t, u.Host)
		s := storetest.MustOpenWith(t, proxy.ProxiedURL(t, direct), store.Options{Timeout: timeout})
		orgID := uniqueID(t, "org")
		proxy.Hang()
		calls := map[string]func() error{
			// The read pool has no connection yet: the first read dials into
			// the black hole, and the dial must end at the deadline too.
			"read":  func() error { _, err := s.Entitlement(t.Context(), orgID); return err },
			"write": func() error { return s.SaveEntitlement(t.Context(), entitlement(orgID, 1)) },
			"transaction": func() error {
				return s.InTx(t.Context(), func(tx billing.Store) error { return tx.SaveEntitlement(t.Context(), entitlement(orgID, 1)) })
			},
			"ping": func() error { return s.Ping(t.Context()) },
		}
		for name, call := range calls {
			start := time.Now()
			err := call()
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("%s against a hanging database took %v, want at most the %v deadline + 1 s", name, took, timeout)
			}
			if billing.ErrorCode(err) != billing.EUnavailable {
				t.Errorf("%s against a hanging database: err = %v, want EUnavailable", name, err)
			}
		}
		proxy.Resume()
		for name, call := range calls {
			if err := eventually(call); err != nil {
				t.Errorf("%s after the database answers again: %v", name, err)
			}
		}
	})
}

// holdTransaction runs during while a transaction of s holds the writer, and
// returns the transaction's error.
func holdTransaction(s *store.Store, during func()) error {
	in, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.InTx(context.Background(), func(tx billing.Store) error {
			close(in)
			<-release
			return nil
		})
	}()
	<-in
	during()
	close(release)
	return <-done
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if billing.ErrorCode(err) != billing.EUnavailable {
		t.Fatalf("err = %v, want EUnavailable", err)
	}
}

// eventually retries call for a few seconds: connections broken while the
// database hung are found and replaced on use.
func eventually(call func() error) error {
	var err error
	for range 50 {
		if err = call(); err == nil || errors.Is(err, billing.ErrNotFound) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
