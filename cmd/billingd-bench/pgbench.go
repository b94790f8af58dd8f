package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The pgbench anchor: what the PostgreSQL server the replicas use sustains on
// this machine for a transaction shaped like billingd's writes per event,
// measured by pgbench beside the ingest, so that the ingest reads as a share
// of what the database itself can do here. It runs on a scratch database of
// its own, created and dropped around it, while replicas A and B idle.
const (
	// pgbenchRatioTarget is the share of pgbench's transactions per second
	// the ingest with events on should reach: issue 10's 2,500 of 6,500.
	pgbenchRatioTarget = 0.4
	pgbenchThreads     = 2
	pgbenchOrgs        = 100_000
	anchorFigure       = "webhook ingest, events on / pgbench"
)

// pgbenchSchema is an entitlement per org, already there as billingd's are by
// the time their events come, and a log of event receipts keyed, like
// stripe_events, by a random text id.
var pgbenchSchema = []string{
	`CREATE TABLE bench_entitlements (org integer PRIMARY KEY, status text NOT NULL, version bigint NOT NULL, updated_at timestamptz NOT NULL)`,
	`CREATE TABLE bench_events (id text PRIMARY KEY, org integer NOT NULL, type text NOT NULL, received_at timestamptz NOT NULL)`,
	`INSERT INTO bench_entitlements SELECT g, 'none', 0, now() FROM generate_series(1, ` + strconv.Itoa(pgbenchOrgs) + `) g`,
}

// pgbenchScript is one event's worth of writes in one transaction: record the
// receipt, then upsert its org's row.
var pgbenchScript = `\set org random(1, ` + strconv.Itoa(pgbenchOrgs) + `)
BEGIN;
INSERT INTO bench_events (id, org, type, received_at) VALUES ('evt_' || md5(random()::text), :org, 'customer.subscription.updated', now());
INSERT INTO bench_entitlements (org, status, version, updated_at) VALUES (:org, 'active', 1, now()) ON CONFLICT (org) DO UPDATE SET status = EXCLUDED.status, version = bench_entitlements.version + 1, updated_at = EXCLUDED.updated_at;
COMMIT;
`

// pgbenchResult is what one pgbench run reported; note says why there is none.
type pgbenchResult struct {
	args    string // the flags that matter, for the table
	tps     float64
	latency string // pgbench's average latency
	failed  string // its count of failed transactions, when it prints one
	note    string // "" when tps was measured
}

var (
	pgbenchTPS     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	pgbenchLatency = regexp.MustCompile(`(?m)^latency average = (.+)$`)
	pgbenchFailed  = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
)

// parse reads pgbench's summary.
func (r *pgbenchResult) parse(out string) {
	if m := pgbenchTPS.FindStringSubmatch(out); m != nil {
		r.tps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := pgbenchLatency.FindStringSubmatch(out); m != nil {
		r.latency = strings.TrimSpace(m[1])
	}
	if m := pgbenchFailed.FindStringSubmatch(out); m != nil {
		r.failed = m[1]
	}
}

// pgbenchAnchor runs pgbench beside the ingest. It never fails the run: a
// missing or failing pgbench is a row that says so.
func (b *bench) pgbenchAnchor(ctx context.Context) error {
	conns := b.opts.webhookConns
	threads := min(pgbenchThreads, conns)
	secs := int(math.Round(b.opts.pgbenchTime.Seconds()))
	r := &pgbenchResult{args: fmt.Sprintf("-M prepared -c %d -j %d -T %d", conns, threads, secs)}
	b.pgbench = r
	bin, err := exec.LookPath("pgbench")
	switch {
	case err != nil:
		r.note = "n/a (pgbench not installed)"
		return nil
	case b.launch == nil:
		r.note = "n/a (needs the PostgreSQL server this run starts replicas on, not -url)"
		return nil
	}
	out, err := b.runPgbench(ctx, bin, threads, secs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.parse(out)
	if r.tps == 0 {
		r.note = fmt.Sprintf("n/a (pgbench failed: %v)", lastLine(err, out))
		b.logf("pgbench %s: %s; output:\n%s", r.args, r.note, out)
		return nil
	}
	b.logf("pgbench %s, a 2-statement upsert transaction on a scratch database of the same server: %.0f tps, latency average %s, failed %s",
		r.args, r.tps, r.latency, orUnknown(r.failed))
	return nil
}

// runPgbench creates the scratch database, runs pgbench on it and drops it,
// returning pgbench's output.
func (b *bench) runPgbench(ctx context.Context, bin string, threads, secs int) (_ string, err error) {
	db, err := createDatabase(ctx, b.launch.admin)
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, db.drop()) }()
	if err := execAll(ctx, db.URL, pgbenchSchema); err != nil {
		return "", fmt.Errorf("pgbench schema: %w", err)
	}
	script := filepath.Join(b.launch.dir, "pgbench.sql")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o600); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared",
		"-c", strconv.Itoa(b.opts.webhookConns), "-j", strconv.Itoa(threads), "-T", strconv.Itoa(secs),
		"-f", script, db.URL)
	dieWithParent(cmd)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// execAll runs statements, in order, on the database at url.
func execAll(ctx context.Context, url string, statements []string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range statements {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// addAnchor adds pgbench's figure and the events-on ingest as a share of it.
func (b *bench) addAnchor(context.Context) error {
	r := b.pgbench
	if r == nil {
		r = &pgbenchResult{note: "n/a (not run)"}
	}
	name := "pgbench, 2-statement upsert " + r.args
	target := fmt.Sprintf("≈ %.1f×", pgbenchRatioTarget)
	if r.note != "" {
		b.add(secWebhook, name, r.note, "", skipped)
		b.add(secWebhook, anchorFigure, r.note, target, skipped)
		return nil
	}
	b.add(secWebhook, name, fmt.Sprintf("%.0f tps (latency average %s, failed %s)", r.tps, r.latency, orUnknown(r.failed)), "", info)
	on := b.eventsIngest
	if on == nil {
		b.add(secWebhook, anchorFigure, "n/a (events-on ingest not measured)", target, skipped)
		return nil
	}
	share := on.res.rate() / r.tps
	b.add(secWebhook, anchorFigure, fmt.Sprintf("%.0f / %.0f = %.2f×", on.res.rate(), r.tps, share),
		target, check(share >= pgbenchRatioTarget))
	return nil
}

// lastLine is the last line of out, or err when out is empty.
func lastLine(err error, out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return fmt.Sprint(err)
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
