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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/billingd/billingd/internal/stripe/stripemock"
)

// bench is one run: the replicas it drives and what it measured.
type bench struct {
	opts options
	out  io.Writer

	replicas      []string      // base URLs; the second, when present, for cross-replica polls
	pids          []int         // for RSS, when known
	logs          []*tailBuffer // the replicas' output, when this run started them
	jwtSecret     []byte
	webhookSecret string
	stripeURL     string // "" skips the direct Stripe round trip
	stripeKey     string
	dbKind        string    // "PostgreSQL" or "SQLite" when this run started the replicas
	dbName        string    // of the PostgreSQL database the replicas use, when this run made it
	dbURL         string    // and its URL
	launch        *launcher // starts more replicas; nil with -url
	profile       *profiler // with -profile; nil otherwise
	fileLimit     uint64    // this process's RLIMIT_NOFILE, which the replicas inherit; 0 unknown

	orgs    []benchOrg
	clock   *eventClock
	client  *http.Client // for sequential calls
	figures []figure

	// Ingests the anchors compare: on an (almost) empty stripe_events with
	// the events off, and with them on; nil when not measured.
	emptyIngest, eventsIngest *ingestRun
	pgbench                   *pgbenchResult
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

	b.jwtSecret = []byte(randomHex(32))
	b.webhookSecret = "whsec_" + randomHex(24)
	b.stripeURL, b.stripeKey = mock.URL, "sk_test_123" // stripe-mock refuses keys with more underscores
	b.launch = &launcher{bin: bin, dir: dir, admin: adminURL(getenv), env: []string{
		"PATH=" + getenv("PATH"), "HOME=" + getenv("HOME"),
		"STRIPE_SECRET_KEY=" + b.stripeKey,
		"STRIPE_API_BASE=" + mock.URL,
		"STRIPE_WEBHOOK_SECRET=" + b.webhookSecret,
		"AUTH_JWT_SECRET=" + string(b.jwtSecret),
		"APP_URL=http://localhost:3000",
		"CHECKOUT_RATE_LIMIT=off", "POLL_RATE_LIMIT=off",
		"SHUTDOWN_DELAY=0s", "SHUTDOWN_TIMEOUT=5s",
	}}
	if b.opts.logLevel != "" {
		b.launch.env = append(b.launch.env, "LOG_LEVEL="+b.opts.logLevel)
	}
	b.launch.env = append(b.launch.env, b.profile.env()...)
	set, err := b.startSet(ctx, nil, "replica A", "replica B")
	if err != nil {
		return nil, err
	}
	undo = append(undo, set.stop)
	b.dbKind, b.dbName, b.dbURL = "PostgreSQL", set.db.name, set.db.URL
	b.replicas, b.pids, b.logs = set.bases(), set.pids(), set.logs()
	b.logf("two replicas ready on one PostgreSQL database: %s", strings.Join(b.replicas, ", "))
	return cleanup, nil
}

// launcher starts sets of billingd replicas: one binary and one stripe-mock
// for all, each set on a fresh database of its own on one PostgreSQL server.
type launcher struct {
	bin   string
	dir   string   // this run's temporary directory, removed at the end
	admin string   // URL of the PostgreSQL server's admin database
	env   []string // every replica's environment but DATABASE_URL and PORT
}

// replicaSet is replicas started together on one fresh database.
type replicaSet struct {
	db   *benchDB
	reps []*replica
}

// startSet creates a fresh database and starts one replica per name on it,
// with extra added to the launcher's environment. They start at once, as a
// rollout would: they migrate the database together. It returns when all are
// ready; the set's stop ends them and drops the database.
func (b *bench) startSet(ctx context.Context, extra []string, names ...string) (_ *replicaSet, err error) {
	l := b.launch
	db, err := createDatabase(ctx, l.admin)
	if err != nil {
		return nil, err
	}
	b.logf("database %s", db.name)
	set := &replicaSet{db: db}
	defer func() {
		if err != nil {
			err = errors.Join(err, set.stop())
		}
	}()
	env := append(append(slices.Clip(l.env), "DATABASE_URL="+db.URL), extra...)
	for _, name := range names {
		r, err := startReplica(l.bin, name, env)
		if err != nil {
			return nil, err
		}
		set.reps = append(set.reps, r)
	}
	errs := make([]error, len(set.reps))
	var wg sync.WaitGroup
	for i, r := range set.reps {
		wg.Go(func() {
			if errs[i] = r.waitReady(ctx); errs[i] == nil {
				errs[i] = b.profile.add(r)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// stop stops the replicas, last started first, then drops the database.
func (s *replicaSet) stop() error {
	var errs []error
	for i := len(s.reps) - 1; i >= 0; i-- {
		errs = append(errs, s.reps[i].stop())
	}
	return errors.Join(append(errs, s.db.drop())...)
}

func (s *replicaSet) bases() []string {
	out := make([]string, len(s.reps))
	for i, r := range s.reps {
		out[i] = r.base
	}
	return out
}

func (s *replicaSet) logs() []*tailBuffer {
	out := make([]*tailBuffer, len(s.reps))
	for i, r := range s.reps {
		out[i] = r.out
	}
	return out
}

func (s *replicaSet) pids() []int {
	out := make([]int, len(s.reps))
	for i, r := range s.reps {
		out[i] = r.pid()
	}
	return out
}

// driving is a bench of set with b's options, secrets, clock and client, for
// a measurement of other replicas than b's; b adds the figures.
func (b *bench) driving(set *replicaSet) *bench {
	d := b.drivingReplicas(set.reps...)
	d.dbKind, d.dbName, d.dbURL = "PostgreSQL", set.db.name, set.db.URL
	return d
}

// drivingReplicas is driving for replicas on any database; the caller sets
// what it is.
func (b *bench) drivingReplicas(reps ...*replica) *bench {
	d := &bench{
		opts: b.opts, out: b.out, fileLimit: b.fileLimit,
		jwtSecret: b.jwtSecret, webhookSecret: b.webhookSecret, stripeURL: b.stripeURL, stripeKey: b.stripeKey,
		clock: b.clock, client: b.client,
	}
	for _, r := range reps {
		d.replicas, d.pids, d.logs = append(d.replicas, r.base), append(d.pids, r.pid()), append(d.logs, r.out)
	}
	return d
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

	if b.fileLimit > 0 {
		b.logf("RLIMIT_NOFILE %d (raised to the hard limit; the replicas inherit it)", b.fileLimit)
	}

	time.Sleep(time.Second) // let the replicas settle before reading their idle memory
	b.memory("idle")
	// Ordered so that each anchor runs next to what it anchors, and so that
	// the replicas with the events on and the SQLite one are stopped again
	// before the next measurement.
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"seed", b.seed},
		{"checkout", b.checkoutOverhead},
		{"webhooks", b.webhookIngest},
		{"pgbench", b.pgbenchAnchor},
		{"history", b.historyIngest},
		{"outbound events", b.outboundEvents},
		{"anchor", b.addAnchor},
		{"reads during a webhook burst", b.readsDuringBurst},
		{"entitlement", b.entitlementRead},
		{"long-poll", b.longPolls},
		{"memory", func(context.Context) error { b.memory("after load"); return nil }},
		{"held long-polls", b.heldPolls},
		{"sqlite", b.sqliteMeasurements},
	}
	var took []string
	for _, s := range steps {
		b.profile.enter(s.name)
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if d := time.Since(start); d >= 100*time.Millisecond {
			took = append(took, fmt.Sprintf("%s %.1f s", s.name, d.Seconds()))
		}
	}
	b.logf("phases: %s", strings.Join(took, ", "))
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
	if b.dbKind != "" {
		return b.dbKind
	}
	return "their database"
}

// logMark marks replica i's output so far, for logSince; -1 when unknown.
func (b *bench) logMark(i int) int64 {
	if i < len(b.logs) {
		return b.logs[i].mark()
	}
	return -1
}

// logSince prints, indented, at most max lines replica i wrote after mark.
func (b *bench) logSince(i int, mark int64, max int) {
	if mark < 0 || i >= len(b.logs) {
		return
	}
	lines := strings.Split(strings.TrimSpace(b.logs[i].since(mark)), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return
	}
	b.logf("  replica output meanwhile (%d lines):", len(lines))
	for _, l := range lines[:min(len(lines), max)] {
		b.logf("    %.300s", l)
	}
	if len(lines) > max {
		b.logf("    … %d more", len(lines)-max)
	}
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
