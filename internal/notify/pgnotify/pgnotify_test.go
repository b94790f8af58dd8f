package pgnotify_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/notify/pgnotify"
	"github.com/billingd/billingd/internal/store/storetest"
)

// crossReplicaBudget is the wake-up latency SPEC promises across replicas.
const crossReplicaBudget = 100 * time.Millisecond

func startNotifier(t *testing.T, databaseURL string) *pgnotify.Notifier {
	t.Helper()
	return startNotifierWith(t, databaseURL, pgnotify.Options{})
}

func startNotifierWith(t *testing.T, databaseURL string, opts pgnotify.Options) *pgnotify.Notifier {
	t.Helper()
	n, err := pgnotify.Start(context.Background(), databaseURL, notify.NewLocal(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

func expectWake(t *testing.T, ch <-chan struct{}, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("%s: not woken within %v", what, within)
		return 0
	}
}

func expectNoWake(t *testing.T, ch <-chan struct{}, during time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: woken, want no wake-up", what)
	case <-time.After(during):
	}
}

func TestNotifier(t *testing.T) {
	url := storetest.PostgresURL(t)
	a := startNotifier(t, url)
	b := startNotifier(t, url)
	ctx := context.Background()

	t.Run("WriteOnOneReplicaWakesTheOtherWithin100ms", func(t *testing.T) {
		wake, stop := b.Subscribe("org_cross")
		defer stop()
		other, stopOther := b.Subscribe("org_other")
		defer stopOther()
		for i := range 20 {
			start := time.Now()
			a.Notify(ctx, "org_cross")
			expectWake(t, wake, crossReplicaBudget, "subscriber on the other replica")
			if i == 0 {
				t.Logf("cross-replica wake-up: %v", time.Since(start))
			}
		}
		expectNoWake(t, other, 50*time.Millisecond, "subscriber of another org")
	})

	t.Run("OwnNotifyWakesLocallyOnceWithoutWaitingForTheEcho", func(t *testing.T) {
		wake, stop := a.Subscribe("org_local")
		defer stop()
		a.Notify(ctx, "org_local")
		select {
		case <-wake:
		default:
			t.Fatal("the local subscriber was not woken before Notify returned")
		}
		// The replica's own notification comes back from PostgreSQL; it is
		// skipped, so the waiter does not re-read for nothing.
		expectNoWake(t, wake, 100*time.Millisecond, "echo of the replica's own notification")
	})

	t.Run("SentEvenWhenTheCallerHasGoneAway", func(t *testing.T) {
		wake, stop := b.Subscribe("org_gone")
		defer stop()
		gone, cancel := context.WithCancel(ctx)
		cancel() // the webhook's sender disconnected after the commit
		a.Notify(gone, "org_gone")
		expectWake(t, wake, crossReplicaBudget, "subscriber on the other replica")
	})

	t.Run("ABurstWakesEveryOrgOnTheOtherReplica", func(t *testing.T) {
		// Sent in batches: most of these are asked while one is on its way.
		const orgs = 1500 // more than one batch
		wakes := make([]<-chan struct{}, orgs)
		for i := range wakes {
			var stop func()
			wakes[i], stop = b.Subscribe(fmt.Sprintf("org_burst_%d", i))
			defer stop()
		}
		for i := range orgs {
			a.Notify(ctx, fmt.Sprintf("org_burst_%d", i))
		}
		for i, wake := range wakes {
			expectWake(t, wake, 5*time.Second, fmt.Sprintf("subscriber of org_burst_%d", i))
		}
	})

	t.Run("CloseSendsWhatIsPending", func(t *testing.T) {
		c := startNotifier(t, url)
		wake, stop := b.Subscribe("org_closing")
		defer stop()
		c.Notify(ctx, "org_closing")
		c.Close()
		expectWake(t, wake, crossReplicaBudget, "subscriber of an org notified just before Close")
	})

	t.Run("LostListenerReconnectsAndWakesEveryWaiter", func(t *testing.T) {
		wake, stop := b.Subscribe("org_reconnect")
		defer stop()
		terminateListeners(t, url)
		// Anything sent while b was away is lost, so b wakes all its waiters
		// once it listens again.
		expectWake(t, wake, 5*time.Second, "waiter after the listener reconnected")
		if !b.Listening() {
			t.Fatal("Listening() = false after the reconnect")
		}
		a.Notify(ctx, "org_reconnect")
		expectWake(t, wake, crossReplicaBudget, "subscriber after the reconnect")
	})
}

// terminateListeners kills every connection of the database that is waiting on
// LISTEN, as a failover or network cut would.
func terminateListeners(t *testing.T, url string) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var killed int
	err = db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("found no listening connection to terminate")
	}
}

// TestNotifier_HangingDatabase puts a proxy between a replica and PostgreSQL
// and makes it a black hole: nothing hangs, the listener notices, and it
// listens again once the database answers.
func TestNotifier_HangingDatabase(t *testing.T) {
	const timeout = 500 * time.Millisecond
	direct := storetest.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := storetest.StartProxy(t, u.Host)
	opts := pgnotify.Options{Timeout: timeout, PingInterval: 200 * time.Millisecond}
	a := startNotifierWith(t, proxy.ProxiedURL(t, direct), opts)
	c := startNotifierWith(t, proxy.ProxiedURL(t, direct), opts)
	b := startNotifier(t, direct)
	ctx := context.Background()

	proxy.Hang()
	t.Run("NotifyReturnsWithinTheTimeout", func(t *testing.T) {
		start := time.Now()
		a.Notify(ctx, "org_hang")
		if took := time.Since(start); took > timeout+time.Second {
			t.Fatalf("Notify took %v against a hanging database, want at most the %v timeout + 1 s", took, timeout)
		}
	})
	t.Run("ListenerNoticesTheSilence", func(t *testing.T) {
		eventually(t, "Listening() = false", func() bool { return !a.Listening() })
	})
	t.Run("CloseReturns", func(t *testing.T) {
		done := make(chan struct{})
		go func() { c.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout + time.Second):
			t.Fatal("Close did not return")
		}
	})
	wake, stop := a.Subscribe("org_hang")
	defer stop()
	proxy.Resume()

	t.Run("ListensAgainAndWakesEveryWaiter", func(t *testing.T) {
		// Its reconnects during the hang dialled into the black hole and gave
		// up at the timeout; one after it ends gets through.
		eventually(t, "Listening() = true", a.Listening)
		expectWake(t, wake, time.Second, "waiter after the listener reconnected")
		b.Notify(ctx, "org_hang")
		expectWake(t, wake, crossReplicaBudget, "subscriber after the reconnect")
	})
}

// eventually polls cond for up to ten seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
