package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Long-poll figures.
const (
	wakeTarget = 100 * time.Millisecond
	// abortAfter timed-out samples in a row, from the first, end a series: the
	// replica is not being woken at all, and each further sample costs -poll-wait.
	abortAfter = 3
)

// wakeSample is one long-poll woken by one webhook.
type wakeSample struct {
	sinceAck  time.Duration // poll answered − webhook's 200 arrived (may be < 0)
	sinceSend time.Duration // poll answered − webhook sent
	timedOut  bool          // the poll answered the old state after -poll-wait
}

// longPolls measures wake-up on the first replica, then for polls on the
// second replica woken by webhooks on the first.
func (b *bench) longPolls(ctx context.Context) error {
	if err := b.wakeSeries(ctx, "same replica", b.primary(), b.primary()); err != nil {
		return err
	}
	other, ok := b.secondary()
	if !ok {
		b.add(secLongPoll, "long-poll wake p99, across replicas", "one replica given", "< "+ms(wakeTarget), skipped)
		return nil
	}
	return b.wakeSeries(ctx, "across replicas", other, b.primary())
}

func (b *bench) wakeSeries(ctx context.Context, name, pollBase, hookBase string) error {
	figure := "long-poll wake p99, " + name
	target := "< " + ms(wakeTarget)
	if b.opts.polls == 0 {
		b.add(secLongPoll, figure, "-polls 0", target, skipped)
		return nil
	}
	client := &http.Client{Timeout: time.Duration(b.opts.pollWait)*time.Second + 30*time.Second}
	defer client.CloseIdleConnections()
	var sinceAck, sinceSend []time.Duration
	timeouts, taken := 0, 0
	for i := range b.opts.polls {
		s, err := b.wakeOnce(ctx, client, b.orgs[i%len(b.orgs)], pollBase, hookBase)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		taken++
		if s.timedOut {
			timeouts++
			if timeouts == taken && taken == abortAfter {
				break
			}
			continue
		}
		sinceAck = append(sinceAck, s.sinceAck)
		sinceSend = append(sinceSend, s.sinceSend)
	}
	ack, snd := summarize(sinceAck), summarize(sinceSend)
	b.logf("long-poll %s (poll %s, webhook %s): %d samples, %d not woken (answered after wait=%ds)",
		name, pollBase, hookBase, taken, timeouts, b.opts.pollWait)
	b.logf("  webhook 200 → poll answer: %s", ack)
	b.logf("  webhook sent → poll answer: %s", snd)

	switch {
	case timeouts == taken:
		b.add(secLongPoll, figure, fmt.Sprintf("never woken: %d of %d polls ran out their wait", timeouts, taken), target, miss)
	case timeouts > 0:
		b.add(secLongPoll, figure, fmt.Sprintf("%s; %d of %d not woken", ms(ack.P99), timeouts, taken), target, miss)
	default:
		b.add(secLongPoll, figure, fmt.Sprintf("%s (p50 %s, max %s, n=%d)", ms(ack.P99), ms(ack.P50), ms(ack.Max), ack.N),
			target, check(ack.P99 < wakeTarget))
	}
	return nil
}

// wakeOnce parks a long-poll of o on pollBase with o's current ETag, sends a
// webhook that changes o's entitlement to hookBase, and times the poll's answer.
func (b *bench) wakeOnce(ctx context.Context, client *http.Client, o benchOrg, pollBase, hookBase string) (wakeSample, error) {
	url := pollBase + "/api/billing/entitlement"
	cur, err := expectOK(ctx, client, call{method: http.MethodGet, url: url, token: o.token})
	if err != nil {
		return wakeSample{}, err
	}
	tag := cur.header.Get("ETag")
	if tag == "" {
		return wakeSample{}, fmt.Errorf("entitlement of %s has no ETag", o.id)
	}
	type answer struct {
		at  time.Time
		r   reply
		err error
	}
	polled := make(chan answer, 1)
	go func() {
		r, err := expectOK(ctx, client, call{
			method: http.MethodGet, url: url + "?wait=" + strconv.Itoa(b.opts.pollWait), token: o.token,
			header: map[string]string{"If-None-Match": tag},
		})
		polled <- answer{time.Now(), r, err}
	}()

	// A poll not parked yet when the webhook lands still sees the change: it
	// reads the state after subscribing to wake-ups. Settling only keeps the
	// measurement about waking rather than about a fresh read.
	select {
	case a := <-polled:
		return wakeSample{}, fmt.Errorf("long-poll of %s answered before any change (%v): status %d", o.id, a.err, a.r.status)
	case <-time.After(b.opts.pollSettle):
	}
	sent := time.Now()
	if _, err := b.postEvent(ctx, b.client, hookBase, subscriptionEvent(o.id, b.clock.tick(), statusOf(0))); err != nil {
		return wakeSample{}, fmt.Errorf("webhook: %w", err)
	}
	acked := time.Now()
	a := <-polled
	if a.err != nil {
		return wakeSample{}, fmt.Errorf("long-poll of %s: %w", o.id, a.err)
	}
	return wakeSample{
		sinceAck: a.at.Sub(acked), sinceSend: a.at.Sub(sent),
		timedOut: a.r.header.Get("ETag") == tag,
	}, nil
}
