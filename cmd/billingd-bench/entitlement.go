package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Entitlement targets, against the bare baseline measured beside billingd:
// the share of its throughput billingd must reach (on PostgreSQL, and on
// SQLite), and the most billingd's p99 may be as a multiple of its p99.
const (
	entitlementRatioTarget       = 0.9
	sqliteEntitlementRatioTarget = 0.8
	entitlementP99Factor         = 1.5
)

// readTarget is one server the entitlement read is measured on.
type readTarget struct {
	name   string
	base   string
	client *http.Client
	cpu    *cpuMeter
	dbCPU  *cpuMeter // PostgreSQL's share, for billingd
	result loadResult
}

// entitlementRead measures the first replica's entitlement reads beside the
// bare baseline and adds their figures: throughput and p99 against the
// baseline's.
func (b *bench) entitlementRead(ctx context.Context) error {
	bare, got, err := b.readsBesideBaseline(ctx)
	if err != nil {
		return err
	}
	conns := b.opts.conns
	b.add(secEntitlement, fmt.Sprintf("entitlement, %d conns: billingd", conns), readValue(got), "", info)
	b.add(secEntitlement, "entitlement: bare Echo+JWT baseline", readValue(bare), "", info)
	b.add(secEntitlement, "entitlement: billingd / baseline", throughputRatio(bare, got),
		fmt.Sprintf("≥ %.0f%%", 100*entitlementRatioTarget), check(ratio(bare, got) >= entitlementRatioTarget))
	p99, factor := p99Ratio(bare, got)
	b.add(secEntitlement, "entitlement p99: billingd / baseline", p99,
		fmt.Sprintf("≤ %.1f×", entitlementP99Factor), check(factor <= entitlementP99Factor))
	return nil
}

// readsBesideBaseline loads GET /api/billing/entitlement over keep-alive
// connections with tokens of every seeded org, on the bare Echo baseline and on
// the first replica. The two alternate in -rounds short slices, so that
// whatever else the machine does weighs on both alike.
func (b *bench) readsBesideBaseline(ctx context.Context) (bare, got *readTarget, err error) {
	baseline, err := startBaseline(b.jwtSecret)
	if err != nil {
		return nil, nil, err
	}
	defer baseline.stop()

	conns := b.opts.conns
	targets := []*readTarget{
		{name: "baseline (bare Echo + JWT, child process)", base: baseline.base, cpu: newCPUMeter(baseline.pid()), dbCPU: newCPUMeter(0)},
		{name: "billingd (" + b.database() + ")", base: b.primary(), cpu: newCPUMeter(b.pid(0)), dbCPU: newDatabaseCPUMeter(b.dbName)},
	}
	slice := b.opts.duration / time.Duration(b.opts.rounds)
	for round := range b.opts.rounds {
		for _, t := range targets {
			if t.client == nil {
				t.client = newLoadClient(conns)
				defer t.client.CloseIdleConnections()
			}
			do := func(ctx context.Context, id, n int) error {
				o := b.orgs[(id+n*conns+round)%len(b.orgs)]
				_, err := expectOK(ctx, t.client, call{method: http.MethodGet, url: t.base + "/api/billing/entitlement", token: o.token})
				return err
			}
			if round == 0 && b.opts.warmup > 0 {
				closedLoop(ctx, conns, 0, b.opts.warmup, do)
			}
			t.cpu.start()
			t.dbCPU.start()
			r := closedLoop(ctx, conns, 0, slice, do)
			t.cpu.stop()
			t.dbCPU.stop()
			t.result = merge([]loadResult{t.result, r}, t.result.Elapsed+r.Elapsed)
		}
	}
	bare, got = targets[0], targets[1]
	for _, t := range targets {
		b.logf("entitlement %-44s %7.0f req/s  %s  CPU/req %s  failed %d",
			t.name+":", t.result.rate(), summarize(t.result.Lat), t.cpuPerRequest(), t.result.Failed)
	}
	if bare.result.Failed > 0 || got.result.Failed > 0 {
		return nil, nil, fmt.Errorf("entitlement reads failed: baseline %d (%v), billingd %d (%v)",
			bare.result.Failed, bare.result.Err, got.result.Failed, got.result.Err)
	}
	return bare, got, nil
}

func readValue(t *readTarget) string {
	s := summarize(t.result.Lat)
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, CPU/req %s", t.result.rate(), ms(s.P50), ms(s.P99), t.cpuPerRequest())
}

// ratio is billingd's throughput as a share of the baseline's.
func ratio(bare, got *readTarget) float64 { return got.result.rate() / bare.result.rate() }

func throughputRatio(bare, got *readTarget) string {
	return fmt.Sprintf("%.0f / %.0f req/s = %.0f%%", got.result.rate(), bare.result.rate(), 100*ratio(bare, got))
}

// p99Ratio renders billingd's p99 beside the baseline's and returns their quotient.
func p99Ratio(bare, got *readTarget) (string, float64) {
	b, g := summarize(bare.result.Lat).P99, summarize(got.result.Lat).P99
	if b <= 0 {
		return "no baseline samples", math.Inf(1)
	}
	f := float64(g) / float64(b)
	return fmt.Sprintf("%s / %s = %.2f×", ms(g), ms(b), f), f
}

func (t *readTarget) cpuPerRequest() string { return cpuText(t.cpu, t.dbCPU, t.result.OK) }
