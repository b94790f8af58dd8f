package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Reads during a webhook burst: entitlement reads must keep answering while
// Stripe delivers a burst, since services check entitlements on hot paths.
const (
	burstWebhookConns = 200
	burstReaderConns  = 16
	burstReadP99      = 50 * time.Millisecond
)

// readsDuringBurst keeps burstWebhookConns webhooks in flight against the
// first replica while burstReaderConns readers read entitlements from it, for
// -duration, and reports the readers' latency.
func (b *bench) readsDuringBurst(ctx context.Context) error {
	name := fmt.Sprintf("entitlement reads during %d in-flight webhooks, %s", burstWebhookConns, b.database())
	target := "p99 < " + ms(burstReadP99)
	if b.opts.webhooks == 0 {
		b.add(secWebhook, name, "-webhooks 0", target, skipped)
		return nil
	}
	hooks, readers := newLoadClient(burstWebhookConns), newLoadClient(burstReaderConns)
	defer hooks.CloseIdleConnections()
	defer readers.CloseIdleConnections()

	var events, reads loadResult
	var wg sync.WaitGroup
	wg.Go(func() {
		events = closedLoop(ctx, burstWebhookConns, b.opts.warmup, b.opts.duration, func(ctx context.Context, id, n int) error {
			o := b.orgs[(id+n*burstWebhookConns)%len(b.orgs)]
			_, err := b.postEvent(ctx, hooks, b.primary(), subscriptionEvent(o.id, b.clock.tick(), statusOf(n)))
			return err
		})
	})
	wg.Go(func() {
		reads = closedLoop(ctx, burstReaderConns, b.opts.warmup, b.opts.duration, func(ctx context.Context, id, n int) error {
			o := b.orgs[(id+n*burstReaderConns)%len(b.orgs)]
			_, err := expectOK(ctx, readers, call{method: http.MethodGet, url: b.primary() + "/api/billing/entitlement", token: o.token})
			return err
		})
	})
	wg.Wait()
	rl, el := summarize(reads.Lat), summarize(events.Lat)
	b.logf("reads during burst: %.0f reads/s %s, failed %d; meanwhile %.0f webhooks/s %s, failed %d",
		reads.rate(), rl, reads.Failed, events.rate(), el, events.Failed)
	if reads.Err != nil || events.Err != nil {
		b.logf("  first failures: reads %v; webhooks %v", reads.Err, events.Err)
	}
	value := fmt.Sprintf("p50 %s, p99 %s, %.0f reads/s (webhooks %.0f/s, p99 %s)", ms(rl.P50), ms(rl.P99), reads.rate(), events.rate(), ms(el.P99))
	if reads.Failed > 0 || events.Failed > 0 {
		value += fmt.Sprintf(" (failed: %d reads, %d webhooks)", reads.Failed, events.Failed)
	}
	b.add(secWebhook, name, value, target, check(rl.P99 < burstReadP99 && reads.Failed == 0 && events.Failed == 0))
	return nil
}
