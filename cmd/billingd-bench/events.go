package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Outbound events: with EVENTS_WEBHOOK_URL set, every change of an org's
// entitlement view enqueues an entitlement.changed message in the webhook's
// own transaction, and River workers on every replica POST it to each
// endpoint. The phase runs the webhook ingest again on a second pair of
// replicas started with the events on, delivering to a receiver in this
// process, so that the cost of enqueueing shows beside the plain ingest; then
// it times single webhooks to their message on the otherwise idle machine.
const (
	// eventsVariant names the figures of the replicas with the events on.
	eventsVariant = ", events on"
	// endToEndTarget bounds a webhook's way to its entitlement.changed.
	endToEndTarget     = time.Second
	endToEndTargetText = "max < 1 s"
	// deliveryIdle is how long the receiver waits for a next message before
	// a wait gives up: longer than the 10 s in which billingd's first retry
	// comes, so a failed attempt is still waited for.
	deliveryIdle = 15 * time.Second
	// drainLimit bounds the wait for all of the ingest's messages.
	drainLimit = 3 * time.Minute
)

// Figures of the phase.
const (
	drainFigure    = "entitlement.changed all received, after the last webhook's 200"
	receivedFigure = "entitlement.changed received / expected (one per view change)"
	endToEndFigure = "entitlement.changed end to end, webhook sent → received"
)

// outboundEvents starts a receiver and two more replicas, on a fresh database
// of their own, that deliver their events to it; seeds them as the first
// pair was seeded; measures ingest and its delivery, then single webhooks
// end to end; and stops the replicas again, so no later measurement shares
// the machine with them.
func (b *bench) outboundEvents(ctx context.Context) (err error) {
	switch {
	case b.launch == nil:
		b.skipEvents("needs the replicas it starts (not -url)")
		return nil
	case b.opts.webhooks == 0 && b.opts.eventSamples == 0:
		b.skipEvents("-webhooks 0, -event-samples 0")
		return nil
	}
	secret := newEventsSecret()
	recv, err := startReceiver(secret)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, recv.close()) }()
	b.logf("outbound events: two more replicas with EVENTS_WEBHOOK_URL=%s (a receiver in this process, answering 204) …", recv.URL)
	set, err := b.startSet(ctx, []string{"EVENTS_WEBHOOK_URL=" + recv.URL, "EVENTS_WEBHOOK_SECRET=" + secret}, "replica C", "replica D")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, set.stop()) }()
	on := b.driving(set)
	if err := on.seed(ctx); err != nil {
		return err
	}

	if b.opts.webhooks == 0 {
		b.add(secWebhook, b.ingestFigure(eventsVariant), "-webhooks 0", postgresIngestGoal.rateTarget(), skipped)
	} else if err := b.ingestWithEvents(ctx, on, recv); err != nil {
		return err
	}
	if b.opts.eventSamples == 0 {
		b.add(secEvents, endToEndFigure, "-event-samples 0", endToEndTargetText, skipped)
	} else if err := b.endToEnd(ctx, on, recv); err != nil {
		return err
	}

	c, _ := recv.snapshot()
	b.logf("  receiver: %d POSTs: %d messages, %d redelivered, %d rejected, %d a second message for one change",
		c.posts, c.messages, c.duplicates, c.rejected, c.sameChange)
	for _, base := range on.replicas {
		on.printMetrics(ctx, base, "billingd_event_deliveries_total")
	}
	return nil
}

func (b *bench) skipEvents(why string) {
	b.add(secWebhook, b.ingestFigure(eventsVariant), why, postgresIngestGoal.rateTarget(), skipped)
	b.add(secEvents, endToEndFigure, why, endToEndTargetText, skipped)
}

// ingestWithEvents runs the ingest on the replicas with the events on, then
// waits until the receiver has one message for each change of a view the
// ingest made: each org's versions after the ones it had before.
func (b *bench) ingestWithEvents(ctx context.Context, on *bench, recv *receiver) error {
	before := map[string]int64{}
	for _, o := range on.orgs {
		ent, err := on.readEntitlement(ctx, on.replicas[len(on.replicas)-1], o)
		if err != nil {
			return err
		}
		before[o.id] = ent.Version
	}
	run, err := on.ingest(ctx, "webhook ingest"+eventsVariant)
	if err != nil {
		return err
	}
	b.eventsIngest = &run
	b.addIngest(secWebhook, run, b.ingestFigure(eventsVariant), "webhook latency p50 / p99"+eventsVariant, postgresIngestGoal)

	var want []delivered
	for _, o := range on.orgs {
		for v := before[o.id] + 1; v <= run.versions[o.id]; v++ {
			want = append(want, delivered{o.id, v})
		}
	}
	received, last, waitErr := awaitAll(ctx, recv, want)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c, _ := recv.snapshot()
	unchanged := run.res.OK - len(want) // none, unless billingd dropped a change
	b.logf("  entitlement.changed: %d of %d received (one per view change; %d of %d events changed no view); the last %s after the last webhook's 200",
		received, len(want), unchanged, run.res.OK, ms(last.Sub(run.acked)))
	if waitErr != nil {
		b.logf("  gave up waiting for %d: %v", c.pending, waitErr)
	}
	drain := fmt.Sprintf("%.2f s", math.Max(0, last.Sub(run.acked).Seconds()))
	if received > 0 {
		start := run.acked.Add(-run.res.Elapsed)
		b.logf("  delivered %.0f messages/s from the first webhook to the last message", perSecond(received, last.Sub(start)))
	}
	if received < len(want) {
		drain = fmt.Sprintf("incomplete: %d missing (%v)", len(want)-received, waitErr)
	}
	b.add(secEvents, drainFigure, drain, "", info)
	b.add(secEvents, receivedFigure,
		fmt.Sprintf("%d / %d (%d events, %d changed no view; %d a second message for one change)", received, len(want), run.res.OK, unchanged, c.sameChange),
		"all, once", check(received == len(want) && c.sameChange == 0))
	return nil
}

// awaitAll waits, up to drainLimit, until recv has every message of want,
// and returns how many it has and when the last of them arrived.
func awaitAll(ctx context.Context, recv *receiver, want []delivered) (received int, last time.Time, err error) {
	recv.expect(want)
	ctx, cancel := context.WithTimeout(ctx, drainLimit)
	err = recv.await(ctx, deliveryIdle, func(c receiverCounts) bool { return c.pending == 0 })
	cancel()
	for _, d := range want {
		if at, ok := recv.arrival(d); ok {
			received++
			if at.After(last) {
				last = at
			}
		}
	}
	return received, last, err
}

// endToEnd posts one webhook at a time to the first replica with the events
// on, each changing its org's view, and times it from sending to the
// receiver's getting the org's new version; GET /api/billing/entitlement must
// then report that same version.
func (b *bench) endToEnd(ctx context.Context, on *bench, recv *receiver) error {
	var sinceSend, sinceAck []time.Duration
	lost, mismatched, taken := 0, 0, 0
	for i := range b.opts.eventSamples {
		o := on.orgs[i%len(on.orgs)]
		prev, err := on.readEntitlement(ctx, on.primary(), o)
		if err != nil {
			return err
		}
		sent := time.Now()
		if _, err := on.postEvent(ctx, on.client, on.primary(), subscriptionEvent(o.id, on.clock.tick(), statusOf(i))); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		acked := time.Now()
		err = recv.await(ctx, deliveryIdle, func(receiverCounts) bool { return recv.newestOf(o.id) > prev.Version })
		taken++
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lost++
			b.logf("  %s after version %d: %v", o.id, prev.Version, err)
			if lost == taken && taken == abortAfter {
				break
			}
			continue
		}
		got := delivered{o.id, recv.newestOf(o.id)}
		at, _ := recv.arrival(got)
		sinceSend = append(sinceSend, at.Sub(sent))
		sinceAck = append(sinceAck, at.Sub(acked))
		now, err := on.readEntitlement(ctx, on.primary(), o)
		if err != nil {
			return err
		}
		if now.Version != got.version {
			mismatched++
			b.logf("  %s: received version %d, GET reports %d", o.id, got.version, now.Version)
		}
	}
	snd, ack := summarize(sinceSend), summarize(sinceAck)
	b.logf("entitlement.changed end to end, one webhook at a time: %d samples, %d not received, %d not the version GET reports", taken, lost, mismatched)
	b.logf("  webhook sent → received: %s, p95 %s", snd, ms(percentile(sinceSend, 95)))
	b.logf("  webhook 200 → received:  %s, p95 %s", ack, ms(percentile(sinceAck, 95)))

	value := fmt.Sprintf("p50 %s, p95 %s, max %s (n=%d)", ms(snd.P50), ms(percentile(sinceSend, 95)), ms(snd.Max), snd.N)
	if lost > 0 || mismatched > 0 {
		value += fmt.Sprintf("; %d of %d not received, %d not the version GET reports", lost, taken, mismatched)
	}
	b.add(secEvents, endToEndFigure, value, endToEndTargetText, check(snd.N > 0 && lost == 0 && mismatched == 0 && snd.Max < endToEndTarget))
	return nil
}
