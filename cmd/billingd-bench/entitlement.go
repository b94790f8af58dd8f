package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// entitlementRatioTarget is the share of the bare baseline's throughput
// billingd must reach on the entitlement read.
const entitlementRatioTarget = 0.5

// readTarget is one server the entitlement read is measured on.
type readTarget struct {
	name   string
	base   string
	client *http.Client
	cpu    *cpuMeter
	dbCPU  *cpuMeter // PostgreSQL's share, for billingd
	result loadResult
}

// entitlementRead loads GET /api/billing/entitlement over keep-alive
// connections with tokens of every seeded org, on the bare Echo baseline and on
// the first replica. The two alternate in -rounds short slices, so that
// whatever else the machine does weighs on both alike.
func (b *bench) entitlementRead(ctx context.Context) error {
	baseline, err := startBaseline(b.jwtSecret)
	if err != nil {
		return err
	}
	defer baseline.stop()

	conns := b.opts.conns
	targets := []*readTarget{
		{name: "baseline (bare Echo + JWT, child process)", base: baseline.base, cpu: newCPUMeter(baseline.pid()), dbCPU: newCPUMeter(0)},
		{name: "billingd (replica A, " + b.database() + ")", base: b.primary(), cpu: newCPUMeter(b.pid(0)), dbCPU: newDatabaseCPUMeter(b.dbName)},
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
	bare, got := targets[0], targets[1]
	for _, t := range targets {
		b.logf("entitlement %-44s %7.0f req/s  %s  CPU/req %s  failed %d",
			t.name+":", t.result.rate(), summarize(t.result.Lat), t.cpuPerRequest(), t.result.Failed)
	}
	if bare.result.Failed > 0 || got.result.Failed > 0 {
		return fmt.Errorf("entitlement reads failed: baseline %d (%v), billingd %d (%v)",
			bare.result.Failed, bare.result.Err, got.result.Failed, got.result.Err)
	}
	ratio := got.result.rate() / bare.result.rate()
	b.add(secEntitlement, fmt.Sprintf("entitlement, %d conns: billingd", conns), readValue(got), "", info)
	b.add(secEntitlement, "entitlement: bare Echo+JWT baseline", readValue(bare), "", info)
	b.add(secEntitlement, "entitlement: billingd / baseline", fmt.Sprintf("%.0f%%", 100*ratio),
		fmt.Sprintf("≥ %.0f%%", 100*entitlementRatioTarget), check(ratio >= entitlementRatioTarget))
	return nil
}

func readValue(t *readTarget) string {
	s := summarize(t.result.Lat)
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, CPU/req %s", t.result.rate(), ms(s.P50), ms(s.P99), t.cpuPerRequest())
}

func (t *readTarget) cpuPerRequest() string { return cpuText(t.cpu, t.dbCPU, t.result.OK) }
