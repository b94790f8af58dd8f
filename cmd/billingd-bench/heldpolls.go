package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Held long-polls: many clients holding GET /api/billing/entitlement?wait=25
// at once on replica A, each for an org of its own, as browsers left open on
// a billing page would. What counts is what they cost while held, that a
// change still reaches its poll at once, that other reads do not slow down
// meanwhile, and that the memory is handed back once they end. A read never
// writes, so the orgs need not exist; only those a webhook wakes are seeded,
// by a checkout each.
const (
	heldWait          = 25 // seconds: the contract's maximum
	heldRSSTarget     = 256 << 20
	heldRecoveredRSS  = 128 << 20
	heldRecoveryLimit = 60 * time.Second
	heldWakeTarget    = 50 * time.Millisecond
	heldReadTarget    = 20 * time.Millisecond
	heldReaders       = 4
	heldReadTime      = 3 * time.Second
	// heldOpeners polls are dialled and written at once: all 10,000 at once
	// would overflow the listener's accept queue and wait out SYN retries.
	heldOpeners = 64
	// heldBuffer is each poll connection's read and write buffer in this
	// process, a quarter of net/http's default: the answers are small.
	heldBuffer = 1 << 10
	// heldOpenTimeout bounds the wait for every poll to be held: well within
	// heldWait, after which the first of them would answer.
	heldOpenTimeout = 20 * time.Second
	fdReserve       = 512 // descriptors left for all but the polls, in each process
	heldWakeTimeout = 5 * time.Second
	longPollGauge   = "billingd_longpolls_open"
)

// Figures of the phase.
const (
	heldFigure     = "long-polls held at once on replica A (wait=25, each its own org)"
	heldRSSFigure  = "RSS while they are held (replica A)"
	heldWakeFigure = "change to a held poll, webhook 200 → poll answer p99"
	heldReadFigure = "entitlement reads while they are held, p99"
	recoveryFigure = "RSS of replica A after the held polls end"
)

// pollHold is a set of long-polls in flight from this process.
type pollHold struct {
	client *http.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	woken  []chan time.Time // per org: when its poll answered; nil for orgs not woken

	early  atomic.Int64 // polls of orgs not woken answered before the end
	failed atomic.Int64
	mu     sync.Mutex
	err    error          // the first failure
	kinds  map[string]int // failures by kind
}

func (b *bench) heldPolls(ctx context.Context) error {
	want := b.opts.heldPolls
	if want == 0 {
		b.skipHeld("-held-polls 0")
		return nil
	}
	n, fitNote := b.pollsThatFit(want)
	if fitNote != "" {
		b.logf("held long-polls: %s", fitNote)
	}
	if n < 1 {
		b.skipHeld("n/a: " + fitNote)
		return nil
	}
	orgs, wakeAt, err := b.heldOrgs(ctx, n)
	if err != nil {
		return err
	}
	pid := b.pid(0)
	r := heldRun{want: want, n: n, fitNote: fitNote, before: rssOf(pid), pidKnown: pid > 0}
	logMark := b.logMark(0)

	start := time.Now()
	h := b.holdPolls(ctx, orgs, wakeAt)
	defer h.end()
	held, gaugeOK := b.awaitHeld(ctx, h, n)
	r.held, r.opened = held, time.Since(start)
	r.peak, r.self = rssOf(pid), rssOf(os.Getpid())
	b.logf("held long-polls: %d of %d held on %s after %.1f s (%s); %d answered early, %d failed%s",
		held, n, b.primary(), r.opened.Seconds(), gaugeText(gaugeOK), h.early.Load(), h.failed.Load(), h.firstFailure())
	b.logf("  RSS of replica A: %s before, %s held; the load generator's own: %s", mib(r.before), mib(r.peak), mib(r.self))
	b.logMemstats(ctx, "while held")
	if err := b.changeWhileHeld(ctx, h, orgs, wakeAt, &r); err != nil {
		return err
	}
	stillHeld, _ := b.metricValue(ctx, b.primary(), longPollGauge)

	h.end()
	r.recovery = b.sampleRecovery(pid, time.Now())
	r.early, r.failed = int(h.early.Load()), int(h.failed.Load())
	b.logf("  the polls ended (closed by the client) with %.0f open; %d failed in all%s", stillHeld, r.failed, h.firstFailure())
	b.logf("  RSS of replica A every second since: %s", strings.Join(r.recovery.samples, " "))
	b.logMemstats(ctx, "then")
	b.logSince(0, logMark, 8)
	b.addHeld(r)
	return nil
}

// heldOrgs names n orgs for the held polls, and picks and seeds by checkout
// the ones a webhook will wake, spread among them.
func (b *bench) heldOrgs(ctx context.Context, n int) ([]benchOrg, []int, error) {
	orgs, err := b.newOrgs("org_held", n)
	if err != nil {
		return nil, nil, err
	}
	wakeAt := spread(n, min(b.opts.heldWakes, n))
	seeded := make([]benchOrg, len(wakeAt))
	for j, i := range wakeAt {
		seeded[j] = orgs[i]
	}
	if _, err := b.checkoutAll(ctx, seeded); err != nil {
		return nil, nil, err
	}
	return orgs, wakeAt, nil
}

// changeWhileHeld wakes the polls of the orgs at wakeAt, one webhook at a
// time, while heldReaders read entitlements of the seeded orgs, and records
// both in r with replica A's RSS afterwards.
func (b *bench) changeWhileHeld(ctx context.Context, h *pollHold, orgs []benchOrg, wakeAt []int, r *heldRun) error {
	window := min(b.opts.duration, heldReadTime)
	readers := newLoadClient(heldReaders)
	defer readers.CloseIdleConnections()
	var wg sync.WaitGroup
	wg.Go(func() {
		r.reads = closedLoop(ctx, heldReaders, 0, window, func(ctx context.Context, id, i int) error {
			o := b.orgs[(id+i*heldReaders)%len(b.orgs)]
			_, err := expectOK(ctx, readers, call{method: http.MethodGet, url: b.primary() + "/api/billing/entitlement", token: o.token})
			return err
		})
	})
	sinceAck, lost, err := b.wakeHeld(ctx, h, orgs, wakeAt, window)
	wg.Wait()
	if err != nil {
		return err
	}
	r.wakes, r.lost = summarize(sinceAck), lost
	afterWakes := rssOf(b.pid(0))
	r.peak = max(r.peak, afterWakes)
	b.logf("  %d changes: webhook 200 → poll answer %s, %d not answered; reads meanwhile %.0f/s %s, failed %d; RSS of replica A then %s",
		len(wakeAt), r.wakes, lost, r.reads.rate(), summarize(r.reads.Lat), r.reads.Failed, mib(afterWakes))
	return nil
}

// heldRun is what the phase measured.
type heldRun struct {
	want, n, held       int
	opened              time.Duration
	fitNote             string
	before, peak, self  int64 // RSS of replica A before and while held; of this process while held
	wakes               summary
	lost, early, failed int
	reads               loadResult
	recovery            recovery
	pidKnown            bool
}

// recovery is replica A's RSS after the held polls ended.
type recovery struct {
	ok        bool          // it got under heldRecoveredRSS
	after     time.Duration // when, from the end of the polls
	max, last int64
	samples   []string // for the log
}

func (b *bench) addHeld(r heldRun) {
	value := fmt.Sprintf("%s held, opened in %.1f s; load generator RSS %s", thousands(r.held), r.opened.Seconds(), mib(r.self))
	if r.n < r.want {
		value = fmt.Sprintf("%d of %d (%s); ", r.held, r.want, r.fitNote) + value
	}
	if r.early > 0 || r.failed > 0 {
		value += fmt.Sprintf("; %d answered early, %d failed", r.early, r.failed)
	}
	b.add(secHeldPolls, heldFigure, value, thousands(r.want)+" held", check(r.held >= r.want && r.failed == 0))

	rssTarget := fmt.Sprintf("< %d MiB", heldRSSTarget>>20)
	if r.pidKnown {
		perPoll := float64(r.peak-r.before) / float64(max(r.held, 1)) / 1024
		b.add(secHeldPolls, heldRSSFigure, fmt.Sprintf("%s (from %s: %.1f KiB a poll)", mib(r.peak), mib(r.before), perPoll),
			rssTarget, check(r.peak < heldRSSTarget && r.held >= r.want))
	} else {
		b.add(secHeldPolls, heldRSSFigure, "pid unknown (-pid)", rssTarget, skipped)
	}

	w := r.wakes
	wakeValue := fmt.Sprintf("%s (p50 %s, max %s, n=%d)", ms(w.P99), ms(w.P50), ms(w.Max), w.N)
	if r.lost > 0 {
		wakeValue += fmt.Sprintf("; %d not answered after their change", r.lost)
	}
	b.add(secHeldPolls, heldWakeFigure, wakeValue, "< "+ms(heldWakeTarget), check(w.N > 0 && r.lost == 0 && w.P99 < heldWakeTarget))

	rl := summarize(r.reads.Lat)
	readValue := fmt.Sprintf("%s (p50 %s, %.0f reads/s from %d readers)", ms(rl.P99), ms(rl.P50), r.reads.rate(), heldReaders)
	if r.reads.Failed > 0 {
		readValue += fmt.Sprintf("; %d failed: %v", r.reads.Failed, r.reads.Err)
	}
	b.add(secHeldPolls, heldReadFigure, readValue, "< "+ms(heldReadTarget), check(rl.N > 0 && r.reads.Failed == 0 && rl.P99 < heldReadTarget))

	b.addRecovery(r)
}

func (b *bench) addRecovery(r heldRun) {
	target := fmt.Sprintf("< %d MiB within %.0f s", heldRecoveredRSS>>20, heldRecoveryLimit.Seconds())
	rec := r.recovery
	peaks := fmt.Sprintf("%s while held, at most %s after", mib(r.peak), mib(rec.max))
	switch {
	case !r.pidKnown:
		b.add(secMemory, recoveryFigure, "pid unknown (-pid)", target, skipped)
	case rec.ok:
		b.add(secMemory, recoveryFigure, fmt.Sprintf("under %d MiB %.0f s after (%s)", heldRecoveredRSS>>20, rec.after.Seconds(), peaks),
			target, check(rec.after <= heldRecoveryLimit))
	case b.opts.heldRecovery < heldRecoveryLimit:
		b.add(secMemory, recoveryFigure, fmt.Sprintf("still %s after the %.0f s sampled (-held-recovery; %s)", mib(rec.last), b.opts.heldRecovery.Seconds(), peaks),
			target, skipped)
	default:
		b.add(secMemory, recoveryFigure, fmt.Sprintf("not within %.0f s: still %s (%s)", b.opts.heldRecovery.Seconds(), mib(rec.last), peaks), target, miss)
	}
}

func (b *bench) skipHeld(why string) {
	b.add(secHeldPolls, heldFigure, why, thousands(b.opts.heldPolls)+" held", skipped)
	b.add(secHeldPolls, heldRSSFigure, why, fmt.Sprintf("< %d MiB", heldRSSTarget>>20), skipped)
	b.add(secHeldPolls, heldWakeFigure, why, "< "+ms(heldWakeTarget), skipped)
	b.add(secHeldPolls, heldReadFigure, why, "< "+ms(heldReadTarget), skipped)
	b.add(secMemory, recoveryFigure, why, fmt.Sprintf("< %d MiB within %.0f s", heldRecoveredRSS>>20, heldRecoveryLimit.Seconds()), skipped)
}

// pollsThatFit is how many of want polls the open-file limits of this
// process and of replica A leave room for, each poll being one descriptor
// in each, and a note when that is fewer.
func (b *bench) pollsThatFit(want int) (int, string) {
	if b.fileLimit == 0 {
		return want, "" // unknown: try
	}
	limit, replicaLimit := b.fileLimit, uint64(0)
	if pid := b.pid(0); pid > 0 {
		if l, err := openFileLimit(pid); err == nil {
			replicaLimit = l
			limit = min(limit, l)
		}
	}
	if limit >= uint64(want+fdReserve) {
		return want, ""
	}
	fit := max(int(limit)-fdReserve, 0)
	return fit, fmt.Sprintf("only %d of %d fit: RLIMIT_NOFILE is %d here and %d in replica A (the hard limit, ulimit -Hn), %d kept for the rest",
		fit, want, b.fileLimit, replicaLimit, fdReserve)
}

// spread picks k of the indexes 0…n-1, evenly apart.
func spread(n, k int) []int {
	out := make([]int, k)
	for j := range out {
		out[j] = j * n / k
	}
	return out
}

// holdPolls starts one long-poll per org on replica A, each on a connection
// of its own, heldOpeners at a time until each is written, and returns once
// the last has started. The orgs at wakeAt report when their poll answers.
func (b *bench) holdPolls(ctx context.Context, orgs []benchOrg, wakeAt []int) *pollHold {
	h := &pollHold{
		client: &http.Client{Transport: &http.Transport{
			MaxConnsPerHost:     0, // unlimited: a connection per poll
			MaxIdleConns:        len(orgs),
			MaxIdleConnsPerHost: len(orgs),
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ReadBufferSize:      heldBuffer,
			WriteBufferSize:     heldBuffer,
		}},
		woken: make([]chan time.Time, len(orgs)),
	}
	for _, i := range wakeAt {
		h.woken[i] = make(chan time.Time, 1)
	}
	ctx, h.cancel = context.WithCancel(ctx)
	url := b.primary() + "/api/billing/entitlement?wait=" + strconv.Itoa(heldWait)
	openers := make(chan struct{}, heldOpeners)
	for i, o := range orgs {
		select {
		case openers <- struct{}{}:
		case <-ctx.Done():
			return h
		}
		release := sync.OnceFunc(func() { <-openers })
		h.wg.Go(func() {
			defer release()
			h.poll(ctx, url, o, h.woken[i], release)
		})
	}
	return h
}

// poll holds one long-poll until it answers or ctx ends; written is called
// once the request is on the wire.
func (h *pollHold) poll(ctx context.Context, url string, o benchOrg, woken chan<- time.Time, written func()) {
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { written() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		h.fail(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := h.client.Do(req)
	at := time.Now()
	if err != nil {
		if ctx.Err() == nil { // not ended by us
			h.fail(err)
		}
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		h.fail(&statusError{Status: resp.StatusCode, Body: string(body)})
	case woken != nil:
		woken <- at
	default:
		h.early.Add(1)
	}
}

func (h *pollHold) fail(err error) {
	h.failed.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
	}
	if h.kinds == nil {
		h.kinds = map[string]int{}
	}
	h.kinds[failureKind(err)]++
}

// failureKind names err without what differs between requests: the status,
// or the innermost message ("connection reset by peer").
func failureKind(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		return fmt.Sprintf("status %d", se.Status)
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func (h *pollHold) firstFailure() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return ""
	}
	var kinds []string
	for k, n := range h.kinds {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(kinds)
	return fmt.Sprintf(" (%s; first: %v)", strings.Join(kinds, ", "), h.err)
}

// end cancels the polls still held, which closes their connections, and
// waits for them. It may be called more than once.
func (h *pollHold) end() {
	h.cancel()
	h.wg.Wait()
	h.client.CloseIdleConnections()
}

// awaitHeld waits until replica A reports n long-polls open, less those
// that already answered, or heldOpenTimeout has passed, and returns how many
// it reports. Without the gauge it can only wait a moment and count the
// polls not answered.
func (b *bench) awaitHeld(ctx context.Context, h *pollHold, n int) (held int, gaugeOK bool) {
	deadline := time.Now().Add(heldOpenTimeout)
	for {
		open, ok := b.metricValue(ctx, b.primary(), longPollGauge)
		gone := int(h.early.Load() + h.failed.Load())
		if !ok {
			time.Sleep(time.Second)
			return n - int(h.early.Load()+h.failed.Load()), false
		}
		if int(open) >= n-gone || time.Now().After(deadline) || ctx.Err() != nil {
			return int(open), true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func gaugeText(ok bool) string {
	if ok {
		return "as " + longPollGauge + " reports"
	}
	return "no " + longPollGauge + ": counted as not answered"
}

// wakeHeld sends, one after another spread over window, a webhook that
// changes the entitlement of each org at wakeAt, and times its held poll's
// answer from the webhook's 200.
func (b *bench) wakeHeld(ctx context.Context, h *pollHold, orgs []benchOrg, wakeAt []int, window time.Duration) (sinceAck []time.Duration, lost int, err error) {
	gap := window / time.Duration(len(wakeAt)+1)
	for _, i := range wakeAt {
		next := time.Now().Add(gap)
		o, woken := orgs[i], h.woken[i]
		select {
		case <-woken: // answered before its change: not a wake-up
			lost++
			continue
		default:
		}
		if _, err := b.postEvent(ctx, b.client, b.primary(), subscriptionEvent(o.id, b.clock.tick(), statusOf(0))); err != nil {
			return nil, 0, fmt.Errorf("held long-polls: webhook: %w", err)
		}
		acked := time.Now()
		select {
		case at := <-woken:
			sinceAck = append(sinceAck, at.Sub(acked))
		case <-time.After(heldWakeTimeout):
			lost++
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		time.Sleep(time.Until(next))
	}
	return sinceAck, lost, nil
}

// sampleRecovery reads pid's RSS every second from ended until it is under
// heldRecoveredRSS or -held-recovery has passed.
func (b *bench) sampleRecovery(pid int, ended time.Time) recovery {
	var rec recovery
	if pid <= 0 {
		rec.samples = []string{"pid unknown"}
		return rec
	}
	for i := 0; ; i++ {
		time.Sleep(time.Until(ended.Add(time.Duration(i) * time.Second)))
		rss, err := rssBytes(pid)
		if err != nil {
			rec.samples = append(rec.samples, err.Error())
			return rec
		}
		rec.last, rec.max = rss, max(rec.max, rss)
		rec.samples = append(rec.samples, fmt.Sprintf("%ds:%.0f", i, float64(rss)/(1<<20)))
		since := time.Duration(i) * time.Second
		if rss < heldRecoveredRSS {
			rec.ok, rec.after = true, since
		}
		if rec.ok || since >= b.opts.heldRecovery {
			rec.samples = append(rec.samples, "MiB")
			return rec
		}
	}
}

// metricValue reads one unlabelled sample of billingd's GET /metrics on base.
func (b *bench) metricValue(ctx context.Context, base, name string) (float64, bool) {
	r, err := send(ctx, b.client, call{method: http.MethodGet, url: base + "/metrics"})
	if err != nil || r.status != http.StatusOK {
		return 0, false
	}
	for line := range strings.Lines(string(r.body)) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// rssOf is pid's RSS, 0 when unknown.
func rssOf(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	rss, _ := rssBytes(pid)
	return rss
}

// logMemstats says where replica A's memory is (when: "while held", "then"):
// what the Go runtime holds live, idle and returned, and the polls open.
func (b *bench) logMemstats(ctx context.Context, when string) {
	var parts []string
	for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_goroutines", longPollGauge} {
		v, ok := b.metricValue(ctx, b.primary(), name)
		if !ok {
			continue
		}
		if strings.HasSuffix(name, "_bytes") {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB", strings.TrimPrefix(name, "go_memstats_"), v/(1<<20)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %.0f", name, v))
		}
	}
	b.logf("  replica A %s: %s", when, strings.Join(parts, ", "))
}
