// Package pgnotify carries entitlement wake-ups between replicas that share one
// PostgreSQL database, with LISTEN/NOTIFY. It owns one listening connection and
// one for sending; it knows nothing of HTTP, GORM or Stripe.
package pgnotify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/notify"
)

// Channel is the PostgreSQL notification channel every replica listens on.
const Channel = "billingd_entitlement"

// Reconnect backoff of the listening connection.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Notifications are sent by one goroutine, on one connection, in batches:
// what was asked while a batch was on its way goes out in the next, as one
// statement. Each statement is a transaction of its own, and PostgreSQL
// serialises the commits of transactions that notify and signals every
// listener for each, so one per webhook was a good part of what ingest cost.
// A batch holds at most maxBatch orgs; more wait for the next.
const (
	senderPoolSize = 1
	maxBatch       = 1000
)

// maxPending bounds the orgs waiting to be announced while the database does
// not answer; past it, a notification is dropped and logged, as a failed send
// is.
const maxPending = 100_000

// Defaults of Options.
const (
	defaultTimeout      = 5 * time.Second
	defaultPingInterval = 15 * time.Second
)

// Options configure a Notifier. Zero values get the defaults noted.
type Options struct {
	Logger *slog.Logger // default: discard
	// Timeout bounds every database call: a send, a connect, a ping of the
	// listening connection (DB_TIMEOUT; default 5 s). A database that hangs
	// never hangs a caller or the listener.
	Timeout time.Duration
	// PingInterval is how long the listening connection may stay silent
	// before it is pinged (default 15 s): a connection whose database or
	// network went away without a word would otherwise wait forever, and
	// every notification sent to this replica would be lost.
	PingInterval time.Duration
}

// Notifier is billing.Notifier across replicas: Notify wakes this replica's
// waiters at once and tells every other replica through PostgreSQL.
type Notifier struct {
	local   *notify.Local
	senders *pgxpool.Pool
	conn    *pgx.ConnConfig // of the listening connection
	opts    Options
	log     *slog.Logger
	// replica tags this process's notifications, so that it skips its own echo
	// (its waiters were already woken locally).
	replica string

	listening atomic.Bool
	stop      context.CancelFunc // ends the listener and the sender
	done      chan struct{}      // closed when the listener has ended
	closeOnce sync.Once

	// pending holds the orgs to announce, each once; kick wakes the sender.
	mu         sync.Mutex
	pending    map[string]struct{}
	kick       chan struct{}
	senderDone chan struct{}
}

var (
	_ billing.Notifier   = (*Notifier)(nil)
	_ billing.ChangeFeed = (*Notifier)(nil)
)

// Start connects to databaseURL, begins listening and returns the Notifier. It
// fails when the first connection fails; later losses of the listening
// connection are retried in the background, and every local waiter is woken on
// reconnect because notifications sent during the gap are lost.
func Start(ctx context.Context, databaseURL string, local *notify.Local, opts Options) (*Notifier, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = defaultPingInterval
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("pgnotify: cannot parse the database URL") // the URL may hold a password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// The pool also dials in the background, with no context of ours.
		cfg.ConnConfig.ConnectTimeout = opts.Timeout
	}
	cfg.MaxConns = senderPoolSize
	senders, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: %w", err)
	}
	n := &Notifier{
		local: local, senders: senders, conn: cfg.ConnConfig, opts: opts, log: opts.Logger,
		replica: newReplicaID(), done: make(chan struct{}),
		pending: map[string]struct{}{}, kick: make(chan struct{}, 1), senderDone: make(chan struct{}),
	}
	conn, err := n.listen(ctx)
	if err != nil {
		senders.Close()
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	n.stop = stop
	go n.run(loopCtx, conn)
	go n.send(loopCtx)
	return n, nil
}

// Subscribe implements billing.Notifier.
func (n *Notifier) Subscribe(orgID string) (<-chan struct{}, func()) { return n.local.Subscribe(orgID) }

// SubscribeFunc implements billing.Notifier.
func (n *Notifier) SubscribeFunc(orgID string, wake func()) func() {
	return n.local.SubscribeFunc(orgID, wake)
}

// OnChange implements billing.ChangeFeed. Changes from other replicas reach
// fn through the local notifier, and a reconnect tells fn that any org may
// have changed.
func (n *Notifier) OnChange(fn func(orgID string)) { n.local.OnChange(fn) }

// Notify wakes orgID's waiters here at once, and on every other replica
// through PostgreSQL as soon as the notifications asked before it are sent;
// it does not wait for that. A failed send is logged, not returned: the write
// it announces is committed, and the other replicas' polls still answer when
// their wait ends. The caller's ctx does not cancel the send: the write is
// committed whether or not the caller is still there.
func (n *Notifier) Notify(ctx context.Context, orgID string) {
	n.local.Notify(ctx, orgID)
	n.mu.Lock()
	_, queued := n.pending[orgID]
	full := !queued && len(n.pending) >= maxPending
	if !full {
		n.pending[orgID] = struct{}{}
	}
	n.mu.Unlock()
	if full {
		n.log.WarnContext(ctx, "cross-replica notify dropped: too many waiting to be sent", "org_id", orgID)
		return
	}
	select {
	case n.kick <- struct{}{}:
	default: // the sender is already kicked
	}
}

// send announces the pending orgs, a batch at a time, until ctx ends; then
// it sends what is left, once.
func (n *Notifier) send(ctx context.Context) {
	defer close(n.senderDone)
	for {
		select {
		case <-n.kick:
		case <-ctx.Done():
			// Closing: send what is left unless the database fails.
			for taken, ok := n.sendBatch(); taken > 0 && ok; taken, ok = n.sendBatch() {
			}
			return
		}
		for taken, _ := n.sendBatch(); taken == maxBatch; taken, _ = n.sendBatch() {
		}
	}
}

// sendBatch sends up to maxBatch pending orgs in one statement and returns
// how many it took, and whether the send succeeded. A failure is logged;
// those orgs are not sent again.
func (n *Notifier) sendBatch() (taken int, ok bool) {
	n.mu.Lock()
	payloads := make([]string, 0, min(len(n.pending), maxBatch))
	for org := range n.pending {
		if len(payloads) == maxBatch {
			break
		}
		payloads = append(payloads, n.replica+" "+org)
		delete(n.pending, org)
	}
	n.mu.Unlock()
	if len(payloads) == 0 {
		return 0, true
	}
	// Never hang on a stuck database: what is asked meanwhile waits.
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.Timeout)
	defer cancel()
	if _, err := n.senders.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", Channel, payloads); err != nil {
		n.log.Warn("cross-replica notify failed", "orgs", len(payloads), "err", err)
		return len(payloads), false
	}
	return len(payloads), true
}

// Listening reports whether the listening connection is up.
func (n *Notifier) Listening() bool { return n.listening.Load() }

// Close stops listening, sends what is pending (each batch within the
// timeout) and closes the connections.
func (n *Notifier) Close() {
	n.closeOnce.Do(func() {
		n.stop()
		<-n.done
		<-n.senderDone
		n.senders.Close()
	})
}

// listen opens the listening connection, within the timeout.
func (n *Notifier) listen(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, n.conn)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("pgnotify: listen: %w", err)
	}
	n.listening.Store(true)
	return conn, nil
}

// run delivers notifications until ctx ends, reconnecting when the connection drops.
func (n *Notifier) run(ctx context.Context, conn *pgx.Conn) {
	defer close(n.done)
	backoff := minBackoff
	for {
		err := n.receive(ctx, conn)
		n.listening.Store(false)
		_ = conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("lost the notification connection; reconnecting", "err", err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if conn, err = n.listen(ctx); err == nil {
				break
			}
			backoff = min(2*backoff, maxBackoff)
			n.log.Warn("reconnecting the notification connection failed", "err", err, "retry_in", backoff.String())
		}
		backoff = minBackoff
		n.log.Info("notification connection restored")
		// Whatever was sent while we were away is lost: every waiter re-reads.
		n.local.NotifyAll()
	}
}

// receive hands each notification from another replica to the local waiters,
// and checks the connection after PingInterval of silence: LISTEN again is a
// no-op that the database must answer within the timeout.
func (n *Notifier) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wait, cancel := context.WithTimeout(ctx, n.opts.PingInterval)
		msg, err := conn.WaitForNotification(wait)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// A wait that timed out leaves the connection usable.
			if err := n.ping(ctx, conn); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		replica, orgID, ok := strings.Cut(msg.Payload, " ")
		if !ok || replica == n.replica {
			continue
		}
		n.local.Notify(ctx, orgID)
	}
}

func (n *Notifier) ping(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("pgnotify: ping: %w", err)
	}
	return nil
}

func newReplicaID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
