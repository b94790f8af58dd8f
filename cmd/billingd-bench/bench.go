package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/billingd/billingd/internal/stripe/stripemock"
)

// bench is one run: the replicas it drives and what it measured.
type bench struct {
	opts options
	out  io.Writer

	replicas      []string // base URLs; the second, when present, for cross-replica polls
	pids          []int    // for RSS, when known
	jwtSecret     []byte
	webhookSecret string
	stripeURL     string // "" skips the direct Stripe round trip
	stripeKey     string
	dbName        string // of the database the replicas use, when this run made it

	orgs    []benchOrg
	clock   *eventClock
	client  *http.Client // for sequential calls
	figures []figure
}

type benchOrg struct {
	id, token string
}

// startAll builds billingd and starts stripe-mock, a fresh database and two
// replicas. The returned cleanup stops and removes all of it.
func (b *bench) startAll(ctx context.Context, getenv func(string) string) (_ func() error, err error) {
	var undo []func() error
	cleanup := func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cleanup())
		}
	}()

	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "billingd-bench-")
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() error { return os.RemoveAll(dir) })
	bin := b.opts.binary
	if bin == "" {
		b.logf("building ./cmd/billingd (no -race) …")
		if bin, err = buildBillingd(ctx, root, dir); err != nil {
			return nil, err
		}
	}

	b.logf("starting stripe-mock …")
	mockCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	mock, err := stripemock.Start(mockCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	undo = append(undo, mock.Close)

	db, err := createDatabase(ctx, adminURL(getenv))
	if err != nil {
		return nil, err
	}
	undo = append(undo, db.drop)
	b.dbName = db.name
	b.logf("database %s", db.name)

	b.jwtSecret = []byte(randomHex(32))
	b.webhookSecret = "whsec_" + randomHex(24)
	b.stripeURL, b.stripeKey = mock.URL, "sk_test_123" // stripe-mock refuses keys with more underscores
	env := []string{
		"PATH=" + getenv("PATH"), "HOME=" + getenv("HOME"),
		"DATABASE_URL=" + db.URL,
		"STRIPE_SECRET_KEY=" + b.stripeKey,
		"STRIPE_API_BASE=" + mock.URL,
		"STRIPE_WEBHOOK_SECRET=" + b.webhookSecret,
		"AUTH_JWT_SECRET=" + string(b.jwtSecret),
		"APP_URL=http://localhost:3000",
		"LOG_LEVEL=" + b.opts.logLevel,
		"CHECKOUT_RATE_LIMIT=off", "POLL_RATE_LIMIT=off",
		"SHUTDOWN_DELAY=0s", "SHUTDOWN_TIMEOUT=5s",
	}
	var reps []*replica
	for _, name := range []string{"replica A", "replica B"} {
		r, err := startReplica(bin, name, env)
		if err != nil {
			return nil, err
		}
		reps = append(reps, r)
		undo = append(undo, r.stop)
	}
	// Both start at once, as a rollout would: they migrate one database together.
	errs := make([]error, len(reps))
	var wg sync.WaitGroup
	for i, r := range reps {
		wg.Go(func() { errs[i] = r.waitReady(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, r := range reps {
		b.replicas = append(b.replicas, r.base)
		b.pids = append(b.pids, r.pid())
	}
	b.logf("two replicas ready on one PostgreSQL database: %s", strings.Join(b.replicas, ", "))
	return cleanup, nil
}

// useRunning drives replicas that already run (-url).
func (b *bench) useRunning() error {
	b.replicas = b.opts.urls
	b.pids = b.opts.pids
	b.jwtSecret = []byte(b.opts.jwtSecret)
	b.webhookSecret = b.opts.webhookSecret
	b.stripeURL, b.stripeKey = b.opts.stripeURL, b.opts.stripeKey
	return nil
}

// measure runs every measurement in turn and prints the table.
func (b *bench) measure(ctx context.Context) error {
	b.client = &http.Client{Timeout: 30 * time.Second}
	b.clock = newEventClock(time.Now().Add(-24 * time.Hour))
	b.logf("machine: %d CPUs, GOMAXPROCS %d, %s, load average %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAverage())
	b.logf("the load generator, the baseline, stripe-mock, PostgreSQL and the replicas all share these CPUs")

	time.Sleep(time.Second) // let the replicas settle before reading their idle memory
	b.memory("idle")
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"seed", b.seed},
		{"checkout", b.checkoutOverhead},
		{"webhooks", b.webhookIngest},
		{"reads during a webhook burst", b.readsDuringBurst},
		{"entitlement", b.entitlementRead},
		{"long-poll", b.longPolls},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.memory("after load")
	b.logf("load average at the end: %s", loadAverage())
	b.printTable()
	return nil
}

// logf prints one progress line.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "· "+format+"\n", args...)
}

// primary is the replica that takes the load; secondary is the other one.
func (b *bench) primary() string { return b.replicas[0] }

func (b *bench) secondary() (string, bool) {
	if len(b.replicas) < 2 {
		return "", false
	}
	return b.replicas[1], true
}

// database names the replicas' database in labels: this run's PostgreSQL, or
// whatever the running replicas were given.
func (b *bench) database() string {
	if b.dbName != "" {
		return "PostgreSQL"
	}
	return "their database"
}

// pid is the process id of replica i, or 0 when unknown.
func (b *bench) pid(i int) int {
	if i < len(b.pids) {
		return b.pids[i]
	}
	return 0
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
