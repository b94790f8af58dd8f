package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// History must not slow the ingest: every event's receipt stays in
// stripe_events for EVENT_RETENTION (30 days by default), so a busy
// deployment's table holds millions of rows. The phase seeds -history
// receipts into the replicas' stripe_events directly with SQL, as if billingd
// had recorded them over the last weeks, and runs the same ingest as before
// again: new event ids, newer events, the same orgs.
const (
	historyRatioTarget = 0.9
	// historySpan is how far back the seeded receipts go: inside the
	// default retention, so that pruning leaves them alone meanwhile.
	historySpan = 25 * 24 * time.Hour
	seedTimeout = 5 * time.Minute
)

// seedHistorySQL inserts $1 receipts of applied subscription events with
// random-looking ids, spread evenly over the last historySpan. It names
// every column it fills, so a column added later with a default still works.
const seedHistorySQL = `INSERT INTO stripe_events (id, type, created, received_at, org_id, outcome)
SELECT 'evt_hist_' || md5($2 || g::text), 'customer.subscription.updated', t, t, 'org_hist_' || (g % 10000), 'applied'
FROM generate_series(1, $1::bigint) g, LATERAL (SELECT now() - (g::float8 / $1::bigint) * $3::float8 * interval '1 second' AS t) s`

func (b *bench) historyIngest(ctx context.Context) error {
	name := fmt.Sprintf("webhook ingest, %s rows in stripe_events / empty", thousands(b.opts.history))
	target := fmt.Sprintf("≥ %.0f%% (within 10%%)", 100*historyRatioTarget)
	switch {
	case b.dbURL == "":
		b.add(secHistory, name, "n/a (needs the database this run made, not -url)", target, skipped)
		return nil
	case b.opts.history == 0:
		b.add(secHistory, name, "-history 0", target, skipped)
		return nil
	case b.emptyIngest == nil:
		b.add(secHistory, name, "-webhooks 0", target, skipped)
		return nil
	}
	rows, took, err := seedHistory(ctx, b.dbURL, b.opts.history)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The schema is billingd's and may move: a seed that no longer fits
		// is a row that says so, not a run that fails.
		b.logf("history: seeding stripe_events failed: %v", err)
		b.add(secHistory, name, fmt.Sprintf("n/a (seeding failed: %.120v)", err), target, skipped)
		return nil
	}
	b.logf("history: seeded %s receipts into stripe_events in %.1f s (then VACUUM ANALYZE, CHECKPOINT); %s rows now",
		thousands(b.opts.history), took.Seconds(), thousands(int(rows)))
	run, err := b.ingest(ctx, fmt.Sprintf("webhook ingest, %s rows in stripe_events", thousands(int(rows))))
	if err != nil {
		return err
	}
	empty := b.emptyIngest
	share := run.res.rate() / empty.res.rate()
	full, none := summarize(run.res.Lat), summarize(empty.res.Lat)
	value := fmt.Sprintf("%.0f / %.0f events/s = %.0f%% (p99 %s / %s)", run.res.rate(), empty.res.rate(), 100*share, ms(full.P99), ms(none.P99))
	sound := run.res.Failed == 0 && run.duplicates == 0 && run.wrong == 0
	if !sound {
		value += fmt.Sprintf(" (failed %d, duplicates %d, wrong state %d)", run.res.Failed, run.duplicates, run.wrong)
	}
	b.add(secHistory, name, value, target, check(sound && share >= historyRatioTarget))
	b.add(secHistory, "webhook CPU/event, with history", cpuText(run.cpu, run.dbCPU, run.res.OK), "", info)
	return nil
}

// seedHistory inserts n receipts into stripe_events at url and returns how
// many rows the table then holds and how long the insert took. A checkpoint
// afterwards keeps the seed's writes out of the measurement that follows.
func seedHistory(ctx context.Context, url string, n int) (rows int64, took time.Duration, err error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	start := time.Now()
	if _, err := db.ExecContext(ctx, seedHistorySQL, n, randomHex(4), historySpan.Seconds()); err != nil {
		return 0, 0, err
	}
	took = time.Since(start)
	// A table that grew to a million rows over weeks has been vacuumed
	// and analyzed by autovacuum along the way. Without it, autovacuum's
	// vacuum of a million fresh inserts would run during the measurement.
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) stripe_events`); err != nil {
		return 0, 0, err
	}
	// CHECKPOINT needs a superuser or pg_checkpoint; without, the seed's
	// writes may land during the ingest, which then reads a little slower.
	_, _ = db.ExecContext(ctx, `CHECKPOINT`)
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM stripe_events`).Scan(&rows)
	return rows, took, err
}
