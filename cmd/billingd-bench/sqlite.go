package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
)

// SQLite is billingd's embedded default, what a newcomer runs: one replica on
// a SQLite file in this run's temporary directory, seeded and loaded as
// replica A was — the same ingest, then entitlement reads beside the bare
// baseline. It runs last, alone on the machine but for the idle replicas A
// and B, and is stopped again at the end.
const sqliteReplica = "replica S (SQLite)"

func (b *bench) sqliteMeasurements(ctx context.Context) (err error) {
	ingestName := fmt.Sprintf("webhook ingest, SQLite, %d concurrent", b.opts.webhookConns)
	readName := "entitlement on SQLite: billingd / baseline"
	readTarget := fmt.Sprintf("≥ %.0f%%", 100*sqliteEntitlementRatioTarget)
	skip := func(why string) error {
		b.add(secSQLite, ingestName, why, sqliteIngestGoal.rateTarget(), skipped)
		b.add(secSQLite, readName, why, readTarget, skipped)
		return nil
	}
	switch {
	case b.launch == nil:
		return skip("n/a (needs the replicas it starts, not -url)")
	case !b.opts.sqlite:
		return skip("-sqlite=false")
	}
	path := filepath.Join(b.launch.dir, "billing.db")
	env := append(slices.Clip(b.launch.env), "DATABASE_URL=sqlite:"+path)
	r, err := startReplica(b.launch.bin, sqliteReplica, env)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.stop()) }()
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	if err := b.profile.add(r); err != nil {
		return err
	}
	s := b.drivingReplicas(r)
	s.dbKind = "SQLite"
	if rss, err := rssBytes(r.pid()); err == nil {
		b.logf("%s on %s: RSS idle %s", sqliteReplica, path, mib(rss))
	}
	if err := s.seed(ctx); err != nil {
		return err
	}

	if b.opts.webhooks == 0 {
		b.add(secSQLite, ingestName, "-webhooks 0", sqliteIngestGoal.rateTarget(), skipped)
	} else {
		run, err := s.ingest(ctx, "webhook ingest, SQLite")
		if err != nil {
			return err
		}
		b.addIngest(secSQLite, run, ingestName, "webhook latency p50 / p99, SQLite", sqliteIngestGoal)
	}

	bare, got, err := s.readsBesideBaseline(ctx, false)
	if err != nil {
		return err
	}
	b.add(secSQLite, readName, throughputRatio(bare, got), readTarget, check(ratio(bare, got) >= sqliteEntitlementRatioTarget))
	p99, _ := p99Ratio(bare, got)
	b.add(secSQLite, "entitlement p99 on SQLite: billingd / baseline", p99, "", info)
	return nil
}
