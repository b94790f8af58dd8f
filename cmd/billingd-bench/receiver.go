package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/billingd/billingd/api"
)

// maxEventBody bounds what the receiver reads of one delivery.
const maxEventBody = 1 << 20

// errReceiverIdle ends a wait on the receiver that no delivery moves on.
var errReceiverIdle = errors.New("no delivery arrived")

// newEventsSecret returns a Standard Webhooks secret, as EVENTS_WEBHOOK_SECRET
// takes it: whsec_ and the standard base64 of a 32-byte key.
func newEventsSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// delivered names one entitlement.changed message by what orders it: its
// org and the entitlement version it carries.
type delivered struct {
	org     string
	version int64
}

// receiverCounts are what the receiver answered.
type receiverCounts struct {
	posts      int // requests, whatever became of them
	messages   int // distinct webhook-ids accepted
	duplicates int // accepted again under a webhook-id already seen (retries)
	rejected   int // bad signature or body: answered 400, so billingd retries them
	sameChange int // a second webhook-id for an org and version already received
	pending    int // of the messages expected, those not received yet
}

// receiver is the loopback endpoint billingd's replicas deliver their own
// events to, as another service would receive them: it verifies the Standard
// Webhooks signature, answers 204 at once, and records when each org's
// entitlement version first arrived. It serves from this process.
type receiver struct {
	URL string

	srv    *http.Server
	served chan error
	wh     *standardwebhooks.Webhook

	mu      sync.Mutex
	counts  receiverCounts
	ids     map[string]struct{}
	arrived map[delivered]time.Time
	newest  map[string]int64 // per org
	pending map[delivered]struct{}
	moved   chan struct{} // closed, and replaced, at each new message
}

// startReceiver listens on a free loopback port for deliveries signed with
// secret (whsec_…).
func startReceiver(secret string) (*receiver, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &receiver{
		URL: "http://" + ln.Addr().String() + "/events", wh: wh, served: make(chan error, 1),
		ids: map[string]struct{}{}, arrived: map[delivered]time.Time{}, newest: map[string]int64{},
		moved: make(chan struct{}),
	}
	r.srv = &http.Server{
		Handler:           http.HandlerFunc(r.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
	}
	go func() { r.served <- r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxEventBody))
	at := time.Now() // once the whole body is in, as a receiver could act on it
	if err == nil {
		err = r.wh.Verify(body, req.Header)
	}
	var ev api.EntitlementChangedEvent
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err == nil && (req.Method != http.MethodPost || ev.Type != api.EntitlementChangedEventTypeEntitlementChanged || ev.Data.OrganizationId == "") {
		err = errors.New("not an entitlement.changed delivery")
	}
	r.record(req.Header.Get(standardwebhooks.HeaderWebhookID), delivered{ev.Data.OrganizationId, ev.Data.Version}, at, err)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) record(id string, d delivered, at time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts.posts++
	switch {
	case err != nil:
		r.counts.rejected++
		return
	case hasKey(r.ids, id):
		r.counts.duplicates++
		return
	}
	r.ids[id] = struct{}{}
	r.counts.messages++
	if _, ok := r.arrived[d]; ok {
		r.counts.sameChange++
		return
	}
	r.arrived[d] = at
	r.newest[d.org] = max(r.newest[d.org], d.version)
	delete(r.pending, d)
	r.counts.pending = len(r.pending)
	close(r.moved)
	r.moved = make(chan struct{})
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// expect makes the messages of want not received yet the pending ones.
func (r *receiver) expect(want []delivered) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = map[delivered]struct{}{}
	for _, d := range want {
		if !hasKey(r.arrived, d) {
			r.pending[d] = struct{}{}
		}
	}
	r.counts.pending = len(r.pending)
}

// snapshot returns the counts so far and a channel closed at the next new message.
func (r *receiver) snapshot() (receiverCounts, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts, r.moved
}

// arrival is when d first arrived.
func (r *receiver) arrival(d delivered) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.arrived[d]
	return at, ok
}

// newestOf is the highest version received for org, 0 before any.
func (r *receiver) newestOf(org string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newest[org]
}

// await returns once done holds; it checks at each new message. It gives up
// with errReceiverIdle when no new message arrives for idle, and when ctx ends.
func (r *receiver) await(ctx context.Context, idle time.Duration, done func(receiverCounts) bool) error {
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for {
		counts, moved := r.snapshot()
		if done(counts) {
			return nil
		}
		select {
		case <-moved:
			timer.Reset(idle)
		case <-timer.C:
			return fmt.Errorf("%w for %v", errReceiverIdle, idle)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close stops serving, with a fresh deadline of its own.
func (r *receiver) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if served := <-r.served; !errors.Is(served, http.ErrServerClosed) {
		err = errors.Join(err, served)
	}
	return err
}
