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

// ingestGoal is what an ingest figure is judged against: a rate and a p99
// at -webhook-conns concurrent senders. The zero goal shows a figure beside
// the one judged.
type ingestGoal struct {
	rate float64 // events/s
	p99  time.Duration
}

// On PostgreSQL the ingest judged is the one with billingd's own events on;
// the one with them off is shown beside it. SQLite, the embedded default,
// has a goal of its own.
var (
	postgresIngestGoal = ingestGoal{rate: 2500, p99: 50 * time.Millisecond}
	sqliteIngestGoal   = ingestGoal{rate: 1000, p99: 100 * time.Millisecond}
)

func (g ingestGoal) rateTarget() string {
	if g.rate == 0 {
		return "(judged with events on)"
	}
	return fmt.Sprintf("≥ %.0f events/s", g.rate)
}

func (g ingestGoal) p99Target() string {
	if g.p99 == 0 {
		return ""
	}
	return "p99 < " + ms(g.p99)
}

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

// subscriptionEvent is a customer.subscription.updated event of orgID's Pro
// subscription, created at created, in status. Every event of an org is of
// the same subscription, as Stripe sends them: an org has one subscription,
// updated many times. (With a new subscription per event, an org collected
// one per event, 25 in each ingest, and every later event read them all:
// the ingest slowed with each run, which the history figure then charged to
// stripe_events.)
func subscriptionEvent(orgID string, created time.Time, status billing.Status) []byte {
	sub := stripeevent.SubscriptionSpec{ID: benchSubscriptionID(orgID), OrgID: orgID, Status: status, LookupKey: "pro_monthly", Interval: billing.Month}
	if status == billing.StatusTrialing {
		sub.TrialEnd = created.AddDate(0, 0, 14)
	}
	return stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionUpdated, Created: created}, sub)
}

// benchSubscriptionID is the id of orgID's one subscription.
func benchSubscriptionID(orgID string) string { return "sub_" + orgID }

// statusOf alternates the statuses of successive events of an org. Each
// event changes the org's view anyway: its subscription's period now ends a
// second after the previous event said.
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
	if b.opts.webhooks == 0 {
		b.add(secWebhook, b.ingestFigure(""), "-webhooks 0", ingestGoal{}.rateTarget(), skipped)
		return nil
	}
	run, err := b.ingest(ctx, "webhook ingest")
	if err != nil {
		return err
	}
	b.emptyIngest = &run
	b.addIngest(secWebhook, run, b.ingestFigure(""), "webhook latency p50 / p99", ingestGoal{})
	return nil
}

// ingestRun is what one ingest of -webhooks events measured.
type ingestRun struct {
	res        loadResult
	acked      time.Time // when the last answer came back
	duplicates int64
	wrong      int              // orgs not in the state of their newest event
	versions   map[string]int64 // each org's entitlement version afterwards
	cpu, dbCPU *cpuMeter
}

// ingest posts -webhooks events, each one changing what its org's
// entitlement shows, from -webhook-conns senders to the first replica, logs
// what it measured under label, and reads every org's entitlement afterwards
// on the last replica.
func (b *bench) ingest(ctx context.Context, label string) (ingestRun, error) {
	n, conns := b.opts.webhooks, b.opts.webhookConns
	// Built before the clock starts: the payloads are not what is measured.
	payloads := make([][]byte, n)
	newest := map[string]billing.Status{}
	for i := range payloads {
		o, status := b.orgs[i%len(b.orgs)], statusOf(i/len(b.orgs)) // the org's round
		payloads[i] = subscriptionEvent(o.id, b.clock.tick(), status)
		newest[o.id] = status
	}
	// An org's events go out in order, each once the one before it is
	// answered: sent together, the newer could land first, and the older would
	// then change no view. With more orgs than senders that wait is rare.
	answered := make([]chan struct{}, n)
	for i := range answered {
		answered[i] = make(chan struct{})
	}
	client := newLoadClient(conns)
	defer client.CloseIdleConnections()
	var duplicates, waited atomic.Int64
	run := ingestRun{cpu: newCPUMeter(b.pid(0)), dbCPU: newDatabaseCPUMeter(b.dbName)}
	run.cpu.start()
	run.dbCPU.start()
	run.res = fixedCount(ctx, conns, n, func(ctx context.Context, i int) error {
		defer close(answered[i])
		if prev := i - len(b.orgs); prev >= 0 {
			if err := awaitAnswer(ctx, answered[prev], &waited); err != nil {
				return err
			}
		}
		r, err := b.postEvent(ctx, client, b.primary(), payloads[i])
		if err == nil && bytes.Contains(r.body, []byte(`"duplicate":true`)) {
			duplicates.Add(1)
		}
		return err
	})
	run.acked = time.Now() // fixedCount returns as the last answer is read
	run.cpu.stop()
	run.dbCPU.stop()
	run.duplicates = duplicates.Load()
	res := run.res
	b.logf("%s: %d events in %.2f s = %.0f events/s; %s; CPU/event %s; failed %d, duplicates %d; %d waited for their org's previous event",
		label, res.OK, res.Elapsed.Seconds(), res.rate(), summarize(res.Lat), cpuText(run.cpu, run.dbCPU, res.OK), res.Failed, run.duplicates, waited.Load())
	if res.Err != nil {
		b.logf("  first failure: %v", res.Err)
	}
	var err error
	if run.wrong, run.versions, err = b.verifyNewest(ctx, newest); err != nil {
		return run, err
	}
	b.logf("  every org in the state of its newest event: %d of %d wrong (read on the last replica)", run.wrong, len(newest))
	b.printMetrics(ctx, b.primary(), "billingd_webhook_events_total")
	return run, nil
}

// awaitAnswer waits until answered is closed, counting in waited the waits
// that were not over at once.
func awaitAnswer(ctx context.Context, answered <-chan struct{}, waited *atomic.Int64) error {
	select {
	case <-answered:
		return nil
	default:
	}
	waited.Add(1)
	select {
	case <-answered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ingestFigure names the ingest figure of a variant ("" for the plain run).
func (b *bench) ingestFigure(variant string) string {
	return fmt.Sprintf("webhook ingest, %s, %d concurrent%s", b.database(), b.opts.webhookConns, variant)
}

// addIngest adds the rate and latency figures of run under the names given,
// judged against goal.
func (b *bench) addIngest(sec section, run ingestRun, figure, latency string, goal ingestGoal) {
	res := run.res
	rate := res.rate()
	lat := summarize(res.Lat)
	sound := res.Failed == 0 && run.duplicates == 0 && run.wrong == 0
	value := fmt.Sprintf("%.0f events/s", math.Floor(rate)) // never shows a miss as the target
	if !sound {
		value += fmt.Sprintf(" (failed %d, duplicates %d, wrong state %d)", res.Failed, run.duplicates, run.wrong)
	}
	rateVerdict, latVerdict := info, info
	if goal.rate > 0 {
		rateVerdict = check(rate >= goal.rate && sound)
	}
	if goal.p99 > 0 {
		latVerdict = check(lat.P99 < goal.p99 && sound)
	}
	b.add(sec, figure, value, goal.rateTarget(), rateVerdict)
	b.add(sec, latency, fmt.Sprintf("%s / %s, CPU/event %s", ms(lat.P50), ms(lat.P99), cpuText(run.cpu, run.dbCPU, res.OK)),
		goal.p99Target(), latVerdict)
}

// entitlementState is what the benchmark checks of an org's entitlement.
type entitlementState struct {
	Plan, Status string
	Version      int64
}

// readEntitlement reads o's entitlement on base.
func (b *bench) readEntitlement(ctx context.Context, base string, o benchOrg) (entitlementState, error) {
	r, err := expectOK(ctx, b.client, call{method: http.MethodGet, url: base + "/api/billing/entitlement", token: o.token})
	if err != nil {
		return entitlementState{}, fmt.Errorf("read entitlement of %s: %w", o.id, err)
	}
	ent, err := decode[entitlementState](r)
	if err != nil {
		return entitlementState{}, fmt.Errorf("decode entitlement of %s: %w", o.id, err)
	}
	return ent, nil
}

// verifyNewest reads every org's entitlement (on the last replica, which did
// not ingest the events), counts those not in the status of their newest
// event, and returns every org's version.
func (b *bench) verifyNewest(ctx context.Context, newest map[string]billing.Status) (int, map[string]int64, error) {
	base := b.replicas[len(b.replicas)-1]
	wrong, versions := 0, map[string]int64{}
	for _, o := range b.orgs {
		ent, err := b.readEntitlement(ctx, base, o)
		if err != nil {
			return 0, nil, err
		}
		versions[o.id] = ent.Version
		if want, ok := newest[o.id]; ok && (ent.Plan != "pro" || ent.Status != string(want)) {
			wrong++
		}
	}
	return wrong, versions, nil
}

// printMetrics shows the samples of billingd's GET /metrics on base that
// start with one of prefixes and are not 0, when it exports them.
func (b *bench) printMetrics(ctx context.Context, base string, prefixes ...string) {
	r, err := send(ctx, b.client, call{method: http.MethodGet, url: base + "/metrics"})
	if err != nil || r.status != http.StatusOK {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(line, " 0") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				b.logf("  /metrics %s: %s", base, line)
			}
		}
	}
}
