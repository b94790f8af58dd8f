package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/benchbaseline"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// TestMain doubles as the baseline child: the entitlement measurement starts
// this binary again with baselineRoleEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(baselineRoleEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := serveBaseline(ctx, os.Getenv, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"One", ms(7), 99, 7 * time.Millisecond},
		{"MedianOdd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"MedianEven", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"P99Of100", hundred, 99, 99 * time.Millisecond},
		{"P100IsMax", hundred, 100, 100 * time.Millisecond},
		{"P99OfTenIsMax", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if s.N != 3 || s.P50 != 2*time.Millisecond || s.P99 != 3*time.Millisecond || s.Max != 3*time.Millisecond || s.Mean != 2*time.Millisecond {
		t.Fatalf("summarize = %+v", s)
	}
	if got := summarize(nil).String(); got != "no samples" {
		t.Errorf("empty summary = %q", got)
	}
}

func TestParseVmRSS(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		status := "Name:\tbillingd\nVmPeak:\t 1000 kB\nVmRSS:\t   25600 kB\nRssAnon:\t 1 kB\n"
		got, err := parseVmRSS(strings.NewReader(status))
		if err != nil || got != 25600<<10 {
			t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, 25600<<10)
		}
	})
	t.Run("ErrMissing", func(t *testing.T) {
		if _, err := parseVmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
			t.Fatal("want an error for a status without VmRSS")
		}
	})
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses; utime=150, stime=50 ticks.
	stat := "1234 (bill (d) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 99 0 0"
	got, err := parseStatCPU(stat)
	if want := 2 * time.Second; err != nil || got != want {
		t.Fatalf("parseStatCPU = %v, %v; want %v", got, err, want)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("want an error for a malformed stat line")
	}
}

func TestSelfCPUTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := cpuTime(os.Getpid()); err != nil {
		t.Fatalf("cpuTime(self): %v", err)
	}
	if _, err := rssBytes(os.Getpid()); err != nil {
		t.Fatalf("rssBytes(self): %v", err)
	}
}

// The events the benchmark sends must be what billingd's own parser reads as
// a Pro subscription of the org, with the event's time.
func TestSubscriptionEvent(t *testing.T) {
	const secret = "whsec_test"
	clock := newEventClock(time.Date(2025, 6, 1, 12, 0, 0, 500, time.UTC))
	first, second := clock.tick(), clock.tick()
	if !second.After(first) || first.Nanosecond() != 0 {
		t.Fatalf("clock gave %v then %v; want whole seconds, increasing", first, second)
	}
	for _, status := range []billing.Status{statusOf(0), statusOf(1)} {
		t.Run(string(status), func(t *testing.T) {
			payload := subscriptionEvent("org_1", first, status)
			ev, err := stripe.WebhookVerifier{Secret: secret}.ParseEvent(payload, stripeevent.Sign(payload, secret, time.Now()))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			sub := ev.Subscription
			if ev.Type != billing.EventSubscriptionUpdated || !ev.Created.Equal(first) || sub == nil {
				t.Fatalf("event = %+v, want %s created %v with a subscription", ev, billing.EventSubscriptionUpdated, first)
			}
			if sub.MetadataOrgID != "org_1" || sub.Status != status || sub.LookupKey != "pro_monthly" {
				t.Fatalf("subscription = %+v, want org_1, %s, pro_monthly", sub, status)
			}
			if sub.ID != benchSubscriptionID("org_1") {
				t.Errorf("subscription id %q; want the org's one subscription, %q", sub.ID, benchSubscriptionID("org_1"))
			}
			if status == billing.StatusTrialing && sub.TrialEnd == nil {
				t.Error("trialing subscription has no trial end")
			}
		})
	}
	if statusOf(0) == statusOf(1) {
		t.Error("an org's successive events have the same status")
	}
}

func TestParseOptions(t *testing.T) {
	t.Run("QuickKeepsGivenFlags", func(t *testing.T) {
		o, err := parseOptions([]string{"-quick", "-orgs", "7"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if o.orgs != 7 || o.webhooks != 400 || o.duration != time.Second || o.heldPolls != 200 || o.history != 10000 {
			t.Fatalf("options = %+v; want -orgs 7 kept and quick values for the rest", o)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		o, err := parseOptions(nil, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if o.conns != 64 || o.webhookConns != 32 || o.webhooks != 5000 || o.logLevel != "" ||
			o.heldPolls != 10000 || o.heldWakes != 100 || o.history != 1000000 || o.heldRecovery != time.Minute || !o.sqlite {
			t.Fatalf("defaults = %+v", o)
		}
	})
	t.Run("Running", func(t *testing.T) {
		o, err := parseOptions([]string{"-url", "http://127.0.0.1:8080/, http://127.0.0.1:8081", "-jwt-secret", "s", "-webhook-secret", "w", "-pid", "10,11"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.urls) != 2 || o.urls[0] != "http://127.0.0.1:8080" || len(o.pids) != 2 {
			t.Fatalf("options = %+v", o)
		}
	})
	for name, args := range map[string][]string{
		"ErrURLWithoutSecrets": {"-url", "http://127.0.0.1:8080"},
		"ErrSecretWithoutURL":  {"-jwt-secret", "s"},
		"ErrPollWait":          {"-poll-wait", "26"},
		"ErrHeldPolls":         {"-held-polls", "-1"},
		"ErrPgbenchTime":       {"-pgbench-time", "100ms"},
		"ErrArgument":          {"extra"},
		"ErrPid":               {"-url", "http://x", "-jwt-secret", "s", "-webhook-secret", "w", "-pid", "x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseOptions(args, &bytes.Buffer{}); err == nil {
				t.Fatalf("parseOptions(%q) = nil error", args)
			}
		})
	}
}

// The baseline must do the work it stands for: refuse what billingd refuses.
func TestBaseline(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	srv := httptest.NewServer(benchbaseline.New(secret))
	defer srv.Close()
	valid, err := userToken(secret, "org_1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := userToken(secret, "org_1", -time.Hour)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"org_id": "org_1", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"org_id": "org_1"}).SignedString(secret)
	tests := []struct {
		name, token string
		status      int
	}{
		{"OK", valid, http.StatusOK},
		{"ErrExpired", expired, http.StatusUnauthorized},
		{"ErrAlgNone", none, http.StatusUnauthorized},
		{"ErrNoExp", noExp, http.StatusUnauthorized},
		{"ErrNoToken", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := send(t.Context(), srv.Client(), call{method: http.MethodGet, url: srv.URL + "/api/billing/entitlement", token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.status == http.StatusOK {
				ent, err := decode[benchbaseline.Entitlement](r)
				if err != nil || ent.OrganizationID != "org_1" {
					t.Fatalf("entitlement = %+v, %v; want org_1", ent, err)
				}
			}
		})
	}
}

// TestRun_Quick runs every measurement once, tiny, against PostgreSQL
// (TEST_DATABASE_URL): it skips without PostgreSQL, and fails under CI.
func TestRun_Quick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts stripe-mock, PostgreSQL databases and three processes")
	}
	requirePostgres(t)
	bin := buildForTest(t)
	profiles := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{"billingd-bench", "-quick", "-billingd", bin, "-orgs", "8", "-webhooks", "80",
		"-checkouts", "5", "-polls", "2", "-poll-wait", "1", "-duration", "400ms", "-warmup", "100ms", "-conns", "8",
		"-event-samples", "3", "-history", "1000", "-held-polls", "50", "-held-wakes", "3", "-profile", profiles}
	start := time.Now()
	if err := run(ctx, args, os.Getenv, &out, &out); err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out.String())
	}
	t.Logf("quick run took %v; output:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	for _, want := range []string{
		"figure", "entitlement: billingd / baseline", "webhook ingest, PostgreSQL, 32 concurrent",
		"long-poll wake p99, same replica", "long-poll wake p99, across replicas",
		"checkout overhead p50", "RSS idle", "RSS after load",
		"every org in the state of its newest event: 0 of 8 wrong",
		"webhook ingest, PostgreSQL, 32 concurrent, events on", drainFigure, endToEndFigure,
		"entitlement.changed: 80 of 80 received",
		"entitlement p99: billingd / baseline", "pgbench, 2-statement upsert", anchorFigure,
		"entitlement, a new token every request: billingd / baseline",
		"webhook ingest, 1,000 rows in stripe_events / empty",
		heldFigure, heldRSSFigure, heldWakeFigure, heldReadFigure, recoveryFigure,
		"webhook ingest, SQLite, 32 concurrent", "entitlement on SQLite: billingd / baseline",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// -profile: CPU profiles of the replicas, gzipped protocol buffers as
	// go tool pprof reads them.
	files, _ := filepath.Glob(filepath.Join(profiles, "*.replica-A.cpu.*.pprof"))
	if len(files) == 0 {
		entries, _ := os.ReadDir(profiles)
		t.Fatalf("no CPU profile of replica A in %s: %v", profiles, entries)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s is not a gzipped profile (%d bytes, %v)", f, len(b), err)
		}
	}
}

func TestPprofAddr(t *testing.T) {
	log := `{"time":"…","level":"INFO","msg":"starting billingd"}
not json
{"time":"…","level":"INFO","msg":"profiling listening","addr":"127.0.0.1:40123"}
`
	if got, err := pprofAddr(log); err != nil || got != "127.0.0.1:40123" {
		t.Errorf("pprofAddr = %q, %v; want 127.0.0.1:40123", got, err)
	}
	if _, err := pprofAddr(`{"msg":"listening","addr":"[::]:8080"}`); err == nil {
		t.Error("found a profiling address in a log without one")
	}
	if got := fileSafe("held long-polls/replica A"); got != "held-long-polls-replica-A" {
		t.Errorf("fileSafe = %q", got)
	}
}

// requirePostgres skips the test when PostgreSQL does not answer, unless CI is
// set: then it fails, so that CI cannot pass without it.
func requirePostgres(t *testing.T) {
	t.Helper()
	db, err := createDatabase(t.Context(), adminURL(os.Getenv))
	if err == nil {
		err = db.drop()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL needed (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("PostgreSQL needed: %v", err)
	}
}

// buildForTest builds billingd with this test binary's race setting, which
// the build cache already holds, rather than the release build make bench uses.
func buildForTest(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "billingd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(t.Context(), "go", append(args, "./cmd/billingd")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build billingd: %v\n%s", err, out)
	}
	return bin
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1000000: "1,000,000", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPgbenchParse(t *testing.T) {
	out := `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/pgbench.sql
query mode: prepared
number of clients: 32
number of threads: 2
number of transactions actually processed: 42527
number of failed transactions: 0 (0.000%)
latency average = 3.756 ms
initial connection time = 49.053 ms
tps = 8520.308836 (without initial connection time)
`
	var r pgbenchResult
	r.parse(out)
	if r.tps != 8520.308836 || r.latency != "3.756 ms" || r.failed != "0" {
		t.Fatalf("parse = %+v", r)
	}
	var none pgbenchResult
	none.parse("connection to server failed\n")
	if none.tps != 0 {
		t.Fatalf("parse of a failure = %+v", none)
	}
}

func TestSpread(t *testing.T) {
	got := spread(10000, 4)
	if len(got) != 4 || got[0] != 0 || got[1] != 2500 || got[3] != 7500 {
		t.Fatalf("spread(10000, 4) = %v", got)
	}
	if got := spread(3, 3); got[2] != 2 {
		t.Fatalf("spread(3, 3) = %v", got)
	}
}

func TestFileLimit(t *testing.T) {
	if _, err := os.Stat("/proc/self/limits"); err != nil {
		t.Skip("no /proc")
	}
	raised, err := raiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := openFileLimit(os.Getpid()); err != nil || got != raised {
		t.Fatalf("openFileLimit(self) = %d, %v; want the raised %d", got, err, raised)
	}
}
