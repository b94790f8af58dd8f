package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// webhookRateTarget is the ingest rate billingd must sustain on PostgreSQL.
const webhookRateTarget = 1000

// eventClock hands out strictly increasing event times, one second apart as
// Stripe's whole-second timestamps are, so every event is newer than any sent
// before it and none needs the equal-time fetch from Stripe.
type eventClock struct {
	mu   sync.Mutex
	next time.Time
}

func newEventClock(start time.Time) *eventClock {
	return &eventClock{next: start.Truncate(time.Second)}
}

func (c *eventClock) tick() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.next
	c.next = c.next.Add(time.Second)
	return t
}

// subscriptionEvent is a customer.subscription.updated event of a new Pro
// subscription of orgID, created at created, in status.
func subscriptionEvent(orgID string, created time.Time, status billing.Status) []byte {
	sub := stripeevent.SubscriptionSpec{OrgID: orgID, Status: status, LookupKey: "pro_monthly", Interval: billing.Month}
	if status == billing.StatusTrialing {
		sub.TrialEnd = created.AddDate(0, 0, 14)
	}
	return stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created}, sub)
}

// statusOf alternates the statuses of the ingested events, so that each one
// changes the entitlement's visible state.
func statusOf(i int) billing.Status {
	if i%2 == 0 {
		return billing.StatusActive
	}
	return billing.StatusTrialing
}

// postEvent signs payload now, as Stripe does, and posts it to base.
func (b *bench) postEvent(ctx context.Context, client *http.Client, base string, payload []byte) (reply, error) {
	return expectOK(ctx, client, call{
		method: http.MethodPost, url: base + "/webhooks/stripe", body: payload,
		header: map[string]string{
			"Content-Type":     "application/json; charset=utf-8",
			"Stripe-Signature": stripeevent.Sign(payload, b.webhookSecret, time.Now()),
		},
	})
}

// webhookIngest posts distinct signed subscription events for the seeded orgs
// from concurrent senders to the first replica, then checks that each org ends
// in the state of its newest event.
func (b *bench) webhookIngest(ctx context.Context) error {
	n, conns := b.opts.webhooks, b.opts.webhookConns
	name := fmt.Sprintf("webhook ingest, %s, %d concurrent", b.database(), conns)
	target := fmt.Sprintf("≥ %d events/s", webhookRateTarget)
	if n == 0 {
		b.add(secWebhook, name, "-webhooks 0", target, skipped)
		return nil
	}
	// Built before the clock starts: the payloads are not what is measured.
	payloads := make([][]byte, n)
	newest := map[string]billing.Status{}
	for i := range payloads {
		o := b.orgs[i%len(b.orgs)]
		payloads[i] = subscriptionEvent(o.id, b.clock.tick(), statusOf(i))
		newest[o.id] = statusOf(i)
	}
	client := newLoadClient(conns)
	defer client.CloseIdleConnections()
	var duplicates atomic.Int64
	cpu, dbCPU := newCPUMeter(b.pid(0)), newDatabaseCPUMeter(b.dbName)
	cpu.start()
	dbCPU.start()
	res := fixedCount(ctx, conns, n, func(ctx context.Context, i int) error {
		r, err := b.postEvent(ctx, client, b.primary(), payloads[i])
		if err == nil && bytes.Contains(r.body, []byte(`"duplicate":true`)) {
			duplicates.Add(1)
		}
		return err
	})
	cpu.stop()
	dbCPU.stop()
	rate := res.rate()
	b.logf("webhook ingest: %d events in %.2f s = %.0f events/s; %s; CPU/event %s; failed %d, duplicates %d",
		res.OK, res.Elapsed.Seconds(), rate, summarize(res.Lat), cpuText(cpu, dbCPU, res.OK), res.Failed, duplicates.Load())
	if res.Err != nil {
		b.logf("  first failure: %v", res.Err)
	}
	wrong, err := b.verifyNewest(ctx, newest)
	if err != nil {
		return err
	}
	b.logf("  every org in the state of its newest event: %d of %d wrong (read on the last replica)", wrong, len(newest))
	b.printWebhookMetrics(ctx)

	value := fmt.Sprintf("%.0f events/s", math.Floor(rate)) // never shows a miss as the target
	if res.Failed > 0 || duplicates.Load() > 0 || wrong > 0 {
		value += fmt.Sprintf(" (failed %d, duplicates %d, wrong state %d)", res.Failed, duplicates.Load(), wrong)
	}
	b.add(secWebhook, name, value, target, check(rate >= webhookRateTarget && res.Failed == 0 && wrong == 0))
	lat := summarize(res.Lat)
	b.add(secWebhook, "webhook latency p50 / p99", fmt.Sprintf("%s / %s, CPU/event %s", ms(lat.P50), ms(lat.P99), cpuText(cpu, dbCPU, res.OK)), "", info)
	return nil
}

// verifyNewest reads every org's entitlement (on the last replica, which did
// not ingest the events) and counts those not in the status of their newest event.
func (b *bench) verifyNewest(ctx context.Context, newest map[string]billing.Status) (int, error) {
	base := b.replicas[len(b.replicas)-1]
	wrong := 0
	for _, o := range b.orgs {
		want, ok := newest[o.id]
		if !ok {
			continue
		}
		r, err := expectOK(ctx, b.client, call{method: http.MethodGet, url: base + "/api/billing/entitlement", token: o.token})
		if err != nil {
			return 0, fmt.Errorf("read entitlement of %s: %w", o.id, err)
		}
		ent, err := decode[struct{ Plan, Status string }](r)
		if err != nil {
			return 0, fmt.Errorf("decode entitlement of %s: %w", o.id, err)
		}
		if ent.Plan != "pro" || ent.Status != string(want) {
			wrong++
		}
	}
	return wrong, nil
}

// printWebhookMetrics shows billingd's own count of webhook outcomes, when it
// exports one on GET /metrics.
func (b *bench) printWebhookMetrics(ctx context.Context) {
	r, err := send(ctx, b.client, call{method: http.MethodGet, url: b.primary() + "/metrics"})
	if err != nil || r.status != http.StatusOK {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "billingd_webhook_events_total") {
			b.logf("  /metrics: %s", line)
		}
	}
}
