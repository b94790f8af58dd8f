package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
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
//
// Clients send one token until it expires, and billingd remembers the tokens
// that verified; the baseline checks every one. So the reads are measured
// twice: with each org's one token, as clients send them, and with a token
// never sent before in every request, where both sides verify every token.
func (b *bench) entitlementRead(ctx context.Context) error {
	conns := b.opts.conns
	for _, fresh := range []bool{false, true} {
		bare, got, err := b.readsBesideBaseline(ctx, fresh)
		if err != nil {
			return err
		}
		label := ""
		if fresh {
			label = ", a new token every request"
		}
		b.add(secEntitlement, fmt.Sprintf("entitlement, %d conns%s: billingd", conns, label), readValue(got), "", info)
		b.add(secEntitlement, "entitlement"+label+": bare Echo+JWT baseline", readValue(bare), "", info)
		b.add(secEntitlement, "entitlement"+label+": billingd / baseline", throughputRatio(bare, got),
			fmt.Sprintf("≥ %.0f%%", 100*entitlementRatioTarget), check(ratio(bare, got) >= entitlementRatioTarget))
		p99, factor := p99Ratio(bare, got)
		b.add(secEntitlement, "entitlement p99"+label+": billingd / baseline", p99,
			fmt.Sprintf("≤ %.1f×", entitlementP99Factor), check(factor <= entitlementP99Factor))
	}
	return nil
}

// freshToken signs a token for orgID that no server has seen: its jti is n.
func (b *bench) freshToken(orgID string, n int64) (string, error) {
	return userTokenWith(b.jwtSecret, orgID, tokenTTL, map[string]any{"jti": strconv.FormatInt(n, 36)})
}

// readsBesideBaseline loads GET /api/billing/entitlement over keep-alive
// connections with tokens of every seeded org, on the bare Echo baseline and on
// the first replica. The two alternate in -rounds short slices, so that
// whatever else the machine does weighs on both alike. With fresh, every
// request signs a token of its own (the same cost to the load generator on
// both sides).
func (b *bench) readsBesideBaseline(ctx context.Context, fresh bool) (bare, got *readTarget, err error) {
	baseline, err := startBaseline(b.jwtSecret)
	if err != nil {
		return nil, nil, err
	}
	defer baseline.stop()

	conns := b.opts.conns
	suffix := ""
	if fresh {
		suffix = ", new tokens"
	}
	targets := []*readTarget{
		{name: "baseline (bare Echo + JWT, child process" + suffix + ")", base: baseline.base, cpu: newCPUMeter(baseline.pid()), dbCPU: newCPUMeter(0)},
		{name: "billingd (" + b.database() + suffix + ")", base: b.primary(), cpu: newCPUMeter(b.pid(0)), dbCPU: newDatabaseCPUMeter(b.dbName)},
	}
	slice := b.opts.duration / time.Duration(b.opts.rounds)
	var tokens atomic.Int64
	for round := range b.opts.rounds {
		for _, t := range targets {
			if t.client == nil {
				t.client = newLoadClient(conns)
				defer t.client.CloseIdleConnections()
			}
			do := func(ctx context.Context, id, n int) error {
				o := b.orgs[(id+n*conns+round)%len(b.orgs)]
				token := o.token
				if fresh {
					var err error
					if token, err = b.freshToken(o.id, tokens.Add(1)); err != nil {
						return err
					}
				}
				_, err := expectOK(ctx, t.client, call{method: http.MethodGet, url: t.base + "/api/billing/entitlement", token: token})
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
