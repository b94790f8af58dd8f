package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// options are the command line.
type options struct {
	quick        bool
	orgs         int
	conns        int
	warmup       time.Duration
	duration     time.Duration
	rounds       int
	webhooks     int
	webhookConns int
	polls        int
	pollWait     int // seconds, as a client asks for it
	pollSettle   time.Duration
	checkouts    int
	eventSamples int
	pgbenchTime  time.Duration
	history      int // rows seeded into stripe_events before the ingest runs again
	sqlite       bool
	heldPolls    int // long-polls held at once on one replica, each its own org
	heldWakes    int // of them, orgs seeded by checkout and woken by a webhook
	heldRecovery time.Duration
	logLevel     string
	binary       string // a prebuilt billingd instead of building ./cmd/billingd
	profileDir   string // save the replicas' profiles here ("": none)

	// Driving replicas that already run.
	urls          []string
	jwtSecret     string
	webhookSecret string
	stripeURL     string
	stripeKey     string
	pids          []int

	help bool
}

// quickValues replace the defaults of the flags not given, under -quick: a
// smoke run of every measurement in a few seconds, whose figures mean little.
var quickValues = map[string]string{
	"orgs": "20", "warmup": "200ms", "duration": "1s", "rounds": "2", "webhooks": "400",
	"polls": "5", "poll-wait": "2", "checkouts": "20", "event-samples": "5",
	"pgbench-time": "1s", "history": "10000", "held-polls": "200", "held-wakes": "10", "held-recovery": "5s",
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var urls, pids string
	fs := flag.NewFlagSet("billingd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quick, "quick", false, "smoke run: small counts and short durations (flags given still win)")
	fs.IntVar(&o.orgs, "orgs", 200, "organizations to create (one checkout each) and spread the load over")
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections for the entitlement read")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each entitlement measurement")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each entitlement measurement")
	fs.IntVar(&o.rounds, "rounds", 5, "slices the entitlement measurement alternates between baseline and billingd in")
	fs.IntVar(&o.webhooks, "webhooks", 5000, "distinct signed subscription events to ingest")
	fs.IntVar(&o.webhookConns, "webhook-conns", 32, "concurrent webhook senders")
	fs.IntVar(&o.polls, "polls", 100, "long-poll wake-up samples, on one replica and across two")
	fs.IntVar(&o.pollWait, "poll-wait", 5, "long-poll wait in seconds; a poll not woken by its webhook returns after it")
	fs.DurationVar(&o.pollSettle, "poll-settle", 50*time.Millisecond, "time between starting a poll and sending its webhook")
	fs.IntVar(&o.checkouts, "checkouts", 200, "checkout samples, each beside a direct Stripe call")
	fs.IntVar(&o.eventSamples, "event-samples", 50, "end-to-end samples with outbound events on: a webhook to its entitlement.changed at the receiver")
	fs.DurationVar(&o.pgbenchTime, "pgbench-time", 10*time.Second, "length of the pgbench anchor run beside the ingest (when pgbench is installed)")
	fs.IntVar(&o.history, "history", 1_000_000, "rows seeded into stripe_events before the ingest runs again (0: skip)")
	fs.BoolVar(&o.sqlite, "sqlite", true, "also measure ingest and entitlement reads on one replica on SQLite, the embedded default")
	fs.IntVar(&o.heldPolls, "held-polls", 10_000, "long-polls (wait=25, each its own org) held at once on replica A (0: skip)")
	fs.IntVar(&o.heldWakes, "held-wakes", 100, "of the held long-polls, orgs seeded by checkout and woken by a webhook (at most -held-polls)")
	fs.DurationVar(&o.heldRecovery, "held-recovery", 60*time.Second, "how long to sample replica A's RSS after the held long-polls end")
	fs.StringVar(&o.binary, "billingd", "", "run this billingd binary instead of building ./cmd/billingd")
	fs.StringVar(&o.profileDir, "profile", "", "save CPU profiles of the replicas, phase by phase (and heap profiles of the held long-polls), into this directory")
	fs.StringVar(&o.logLevel, "log-level", "", "LOG_LEVEL of the started replicas (none: billingd's default, as the targets are set at)")
	fs.StringVar(&urls, "url", "", "drive running replicas instead: base URL[,second replica's base URL]")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "with -url: their AUTH_JWT_SECRET")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "with -url: their STRIPE_WEBHOOK_SECRET")
	fs.StringVar(&o.stripeURL, "stripe-url", "", "with -url: their STRIPE_API_BASE, for the direct Stripe round trip (none: checkout overhead is skipped)")
	fs.StringVar(&o.stripeKey, "stripe-key", "sk_test_123", "with -url: a key for the direct Stripe round trip")
	fs.StringVar(&pids, "pid", "", "with -url: process id[,second] of the replicas, for RSS")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{help: true}, nil
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.quick {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for name, v := range quickValues {
			if !given[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	for _, u := range splitList(urls) {
		o.urls = append(o.urls, strings.TrimRight(u, "/"))
	}
	for _, p := range splitList(pids) {
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			return o, fmt.Errorf("-pid: %q is not a process id", p)
		}
		o.pids = append(o.pids, pid)
	}
	return o, o.validate()
}

func (o options) validate() error {
	switch {
	case o.profileDir != "" && len(o.urls) > 0:
		return errors.New("-profile profiles the replicas this run starts; not with -url")
	case o.orgs < 1 || o.conns < 1 || o.webhookConns < 1 || o.rounds < 1:
		return errors.New("-orgs, -conns, -rounds and -webhook-conns must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case o.webhooks < 0 || o.polls < 0 || o.checkouts < 0 || o.eventSamples < 0 || o.history < 0 || o.heldPolls < 0:
		return errors.New("-webhooks, -polls, -checkouts, -event-samples, -history and -held-polls must not be negative")
	case o.heldWakes < 0 || o.pgbenchTime < time.Second || o.heldRecovery < 0:
		return errors.New("-held-wakes and -held-recovery must not be negative, -pgbench-time at least 1s")
	case o.pollWait < 1 || o.pollWait > 25:
		return errors.New("-poll-wait must be 1 to 25 seconds")
	case len(o.urls) > 2:
		return errors.New("-url takes one or two base URLs")
	case len(o.urls) > 0 && (o.jwtSecret == "" || o.webhookSecret == ""):
		return errors.New("-url needs -jwt-secret and -webhook-secret")
	case len(o.urls) > 0 && o.binary != "":
		return errors.New("-billingd starts replicas; -url drives running ones: give one of them")
	case len(o.urls) == 0 && (o.jwtSecret != "" || o.webhookSecret != "" || o.stripeURL != "" || len(o.pids) > 0):
		return errors.New("-jwt-secret, -webhook-secret, -stripe-url and -pid go with -url")
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

const usage = `usage: billingd-bench [flags]

Measures billingd on loopback and prints one table of figures against targets.
By default it builds ./cmd/billingd and starts stripe-mock, a fresh PostgreSQL
database (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the local postgres)
and two replicas; for billingd's own events, two more on a database of their
own that deliver to a loopback receiver; a scratch database for pgbench, when
it is installed; and one replica on a SQLite file. All are removed at the end.
Run it from the module (make bench).

flags:
`
