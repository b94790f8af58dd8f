// Command billingd-bench measures billingd on loopback, each figure beside
// its anchor: entitlement reads beside a bare Echo+JWT baseline, webhook
// ingest on PostgreSQL with billingd's own events off and on beside pgbench
// on the same server, and again with a million rows of history, the way of a
// webhook to its entitlement.changed, long-poll wake-up on one replica and
// across two, 10,000 long-polls held at once, checkout overhead over the
// Stripe round trip, resident memory, and ingest and reads on SQLite.
// `make bench` runs it.
//
// By default it builds ./cmd/billingd, starts stripe-mock, creates a fresh
// PostgreSQL database (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/postgres) and two billingd replicas on it,
// and removes all of them at the end. For the events, it starts two more
// replicas on a database of their own, with EVENTS_WEBHOOK_URL pointing at a
// receiver it serves on loopback, for that measurement only; likewise a
// scratch database for pgbench, and one replica on a SQLite file. With -url
// it drives billingd replicas that are already running instead, and skips
// what needs replicas or databases of its own.
//
// It prints one table of figures against their targets. It exits non-zero only
// when it could not measure; a missed target is a result, not an error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "billingd-bench:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment passed in so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if getenv(baselineRoleEnv) == "1" {
		return serveBaseline(ctx, getenv, stdout)
	}
	opts, err := parseOptions(args[1:], stderr)
	if err != nil {
		return err
	}
	if opts.help {
		return nil
	}
	b := &bench{opts: opts, out: stdout}
	if b.profile, err = newProfiler(opts.profileDir); err != nil {
		return err
	}
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go b.profile.run(sampling)
	// Before any child starts, so that the replicas inherit it: the held
	// long-polls need a descriptor per connection on both ends.
	if b.fileLimit, err = raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "billingd-bench: RLIMIT_NOFILE not raised: %v\n", err)
	}
	var cleanup func() error
	if len(opts.urls) > 0 {
		err = b.useRunning()
	} else {
		cleanup, err = b.startAll(ctx, getenv)
	}
	if err == nil {
		err = b.measure(ctx)
	}
	if cleanup != nil {
		if cerr := cleanup(); err == nil {
			err = cerr
		}
	}
	return err
}
