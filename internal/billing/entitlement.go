package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// EntitlementView is what an org may use, as clients see it.
type EntitlementView struct {
	OrgID             string
	Plan              string // effective plan: FreePlan unless the subscription grants access
	Status            Status
	Active            bool
	Seats             int
	Features          []string
	TrialEnd          *time.Time
	CurrentPeriodEnd  *time.Time
	CancelAtPeriodEnd bool
	CancelAt          *time.Time // when Stripe will cancel (cancel_at); nil if not scheduled
	UpdatedAt         *time.Time
	Version           int64 // the stored entitlement's Version: 0 for an org never seen
	// Checkout is set when the view was asked for with a session id.
	Checkout *CheckoutReadiness

	subscriptionID string
}

// CheckoutReadiness tells a success page whether the session it came from has
// turned into access.
type CheckoutReadiness struct {
	SessionID string
	Status    CheckoutStatus
	Ready     bool
}

// ETag fingerprints everything a client sees, for ETags and long-polls. It
// hashes the fields as text, "|"-separated, the features as "[a b]"; the
// bytes must stay the same across releases, or every client's ETag would
// change on an upgrade. Appended by hand: it runs on every read.
func (v EntitlementView) ETag() string {
	b := make([]byte, 0, 256)
	b = append(b, v.OrgID...)
	b = append(b, '|')
	b = append(b, v.Plan...)
	b = append(b, '|')
	b = append(b, v.Status...)
	b = append(b, '|')
	b = strconv.AppendBool(b, v.Active)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(v.Seats), 10)
	b = append(b, "|["...)
	for i, f := range v.Features {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	b = append(b, "]|"...)
	b = appendTime(b, v.TrialEnd)
	b = append(b, '|')
	b = appendTime(b, v.CurrentPeriodEnd)
	b = append(b, '|')
	b = strconv.AppendBool(b, v.CancelAtPeriodEnd)
	b = append(b, '|')
	b = appendTime(b, v.CancelAt)
	b = append(b, '|')
	b = appendTime(b, v.UpdatedAt)
	b = append(b, '|')
	b = strconv.AppendInt(b, v.Version, 10)
	if c := v.Checkout; c != nil {
		b = append(b, '|')
		b = append(b, c.SessionID...)
		b = append(b, '|')
		b = append(b, c.Status...)
		b = append(b, '|')
		b = strconv.AppendBool(b, c.Ready)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// appendTime appends t in UTC as RFC 3339 with nanoseconds; nothing for nil.
func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return b
	}
	return t.UTC().AppendFormat(b, time.RFC3339Nano)
}

// view applies the access policy and the catalog to a stored entitlement.
func (s *Service) view(e Entitlement) EntitlementView {
	v := EntitlementView{
		OrgID: e.OrgID, Plan: FreePlan, Status: e.Status, TrialEnd: e.TrialEnd, CurrentPeriodEnd: e.CurrentPeriodEnd,
		CancelAtPeriodEnd: e.CancelAtPeriodEnd, CancelAt: e.CancelAt, Version: e.Version, Features: []string{},
		subscriptionID: e.SubscriptionID,
	}
	switch v.Status {
	case "":
		v.Status = StatusNone
	case StatusNone:
	default:
		// Rows written before StatusUnknown existed may hold Stripe's raw status.
		v.Status = StripeStatus(string(v.Status))
	}
	if !e.UpdatedAt.IsZero() {
		t := e.UpdatedAt
		v.UpdatedAt = &t
	}
	if plan, ok := s.opts.Catalog.Plan(e.SubscriptionPlan); ok && s.opts.Access.Grants(e.Status) {
		v.Plan, v.Active = plan.Slug, true
		v.Features = append(v.Features, plan.Features...)
		v.Seats = max(e.Seats, 1)
	}
	return v
}

// Entitlement returns the org's entitlement; an org never seen is free with
// status none. It never writes. The answer may come from the cache, which a
// change on any replica invalidates before it wakes anyone.
func (s *Service) Entitlement(ctx context.Context, orgID string) (EntitlementView, error) {
	v, epoch, ok := s.views.get(orgID)
	if ok {
		return v, nil
	}
	v, err := s.loadEntitlement(ctx, orgID)
	if err != nil {
		return EntitlementView{}, err
	}
	s.views.put(orgID, v, epoch)
	return v, nil
}

// loadEntitlement is Entitlement read from the store, for decisions that
// must not rest on a cached answer.
func (s *Service) loadEntitlement(ctx context.Context, orgID string) (EntitlementView, error) {
	e, err := s.store.Entitlement(ctx, orgID)
	if errors.Is(err, ErrNotFound) {
		e = NoEntitlement(orgID)
	} else if err != nil {
		return EntitlementView{}, fmt.Errorf("load entitlement: %w", err)
	}
	return s.view(e), nil
}

// Entitlements returns the views of orgIDs in the order given, repeats
// included; an org never seen is free with status none. It never writes. Orgs
// not in the cache are read with one store query, so that a backend showing
// many orgs costs one round trip, not one per org.
func (s *Service) Entitlements(ctx context.Context, orgIDs []string) ([]EntitlementView, error) {
	views := make(map[string]EntitlementView, len(orgIDs))
	misses := map[string]uint64{} // org id → cache epoch before its load began
	for _, id := range orgIDs {
		if _, seen := views[id]; seen {
			continue
		}
		if _, seen := misses[id]; seen {
			continue
		}
		if v, epoch, ok := s.views.get(id); ok {
			views[id] = v
		} else {
			misses[id] = epoch
		}
	}
	if err := s.loadEntitlements(ctx, misses, views); err != nil {
		return nil, err
	}
	out := make([]EntitlementView, len(orgIDs))
	for i, id := range orgIDs {
		out[i] = views[id]
	}
	return out, nil
}

// loadEntitlements reads the orgs of misses from the store in one query, adds
// their views to views and caches each with the epoch it missed at.
func (s *Service) loadEntitlements(ctx context.Context, misses map[string]uint64, views map[string]EntitlementView) error {
	if len(misses) == 0 {
		return nil
	}
	stored, err := s.store.EntitlementsOf(ctx, slices.Collect(maps.Keys(misses)))
	if err != nil {
		return fmt.Errorf("load entitlements: %w", err)
	}
	found := make(map[string]Entitlement, len(stored))
	for _, e := range stored {
		found[e.OrgID] = e
	}
	for id, epoch := range misses {
		e, ok := found[id]
		if !ok {
			e = NoEntitlement(id)
		}
		views[id] = s.view(e)
		s.views.put(id, views[id], epoch)
	}
	return nil
}

// EntitlementQuery asks for an org's entitlement, optionally with the readiness
// of one of its checkout sessions.
type EntitlementQuery struct {
	OrgID     string
	SessionID string
}

// EntitlementFor answers q. A session id that is unknown or another org's is
// ENotFound: a session id is a polling handle, never proof of anything.
func (s *Service) EntitlementFor(ctx context.Context, q EntitlementQuery) (EntitlementView, error) {
	v, err := s.Entitlement(ctx, q.OrgID)
	if err != nil || q.SessionID == "" {
		return v, err
	}
	cs, err := s.orgCheckoutSession(ctx, q.OrgID, q.SessionID)
	if err != nil {
		return EntitlementView{}, err
	}
	v.Checkout = &CheckoutReadiness{SessionID: cs.ID, Status: cs.Status, Ready: checkoutReady(cs, v)}
	return v, nil
}

// checkoutReady: the session completed and its subscription is what grants access.
func checkoutReady(cs CheckoutSession, v EntitlementView) bool {
	return cs.Status == CheckoutComplete && v.Active &&
		(cs.SubscriptionID == "" || cs.SubscriptionID == v.subscriptionID)
}

// WaitEntitlement holds a long-poll until it has something worth answering,
// and returns the current state then or when wait has passed, ctx ends or
// drain does (the caller wants the current state at once: a process that
// drains its polls; nil never ends), whichever comes first. It never fails
// because of the timeout.
// What is worth answering depends on what the caller holds:
//   - since (the client's ETag): any ETag other than since;
//   - no since but a session id (a success page): the checkout being ready or
//     expired. The session turning complete before its subscription arrives
//     changes the ETag but is not the answer such a page waits for;
//   - neither: any ETag other than the one when the call began.
func (s *Service) WaitEntitlement(ctx context.Context, q EntitlementQuery, since string, wait time.Duration, drain context.Context) (EntitlementView, error) {
	type result struct {
		v   EntitlementView
		err error
	}
	done := make(chan result, 1)
	s.WatchEntitlement(ctx, q, since, wait, drain, func(v EntitlementView, err error) { done <- result{v, err} })
	r := <-done
	return r.v, r.err
}

// WatchEntitlement is WaitEntitlement for a caller that gives the wait no
// goroutine: answer is called once, on a goroutine of its own, with what
// WaitEntitlement would return. Meanwhile the poll is a few callbacks (the
// org's notifications, its timer, ctx and drain ending), and a goroutine
// only while it reads, so thousands of held polls cost little memory.
func (s *Service) WatchEntitlement(ctx context.Context, q EntitlementQuery, since string, wait time.Duration, drain context.Context, answer func(EntitlementView, error)) {
	if drain == nil {
		drain = context.Background()
	}
	w := &entitlementWatch{s: s, ctx: ctx, drain: drain, q: q, since: since, answer: answer, timeUp: make(chan struct{})}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Subscribed before the first read, so that a write between the read and
	// the wait still wakes it.
	w.unsubscribe = s.notifier.SubscribeFunc(q.OrgID, w.kick)
	w.timer = time.AfterFunc(wait, func() { close(w.timeUp); w.kick() })
	w.stopCtx = context.AfterFunc(ctx, w.kick)
	w.stopDrain = context.AfterFunc(drain, w.kick)
	w.startLocked()
}

// entitlementWatch is one WatchEntitlement. Each kick (a notification, the
// timer, ctx or drain ending) runs step on a goroutine unless one runs
// already, which then loops once more.
type entitlementWatch struct {
	s      *Service
	ctx    context.Context
	drain  context.Context
	q      EntitlementQuery
	answer func(EntitlementView, error)
	timeUp chan struct{} // closed when wait has passed

	unsubscribe         func()
	timer               *time.Timer
	stopCtx, stopDrain  func() bool
	mu                  sync.Mutex
	running, again, end bool

	// Only step touches these.
	since string
	last  EntitlementView
	reads int
}

func (w *entitlementWatch) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.end {
		return
	}
	if w.running {
		w.again = true
		return
	}
	w.startLocked()
}

func (w *entitlementWatch) startLocked() {
	w.running, w.again = true, false
	go w.step()
}

// ended reports whether the wait is over without anything to read: its time
// passed, or ctx or drain ended.
func (w *entitlementWatch) ended() bool {
	select {
	case <-w.timeUp:
		return true
	default:
	}
	return w.ctx.Err() != nil || w.drain.Err() != nil
}

func (w *entitlementWatch) step() {
	for {
		if w.reads > 0 && w.ended() {
			w.finish(w.last, nil)
			return
		}
		v, read, err := w.s.pollRead(w.ctx, w.q, w.timeUp)
		switch {
		case !read && w.reads == 0 && w.ctx.Err() != nil:
			w.finish(v, &Error{Code: EUnavailable, Message: "The request ended before it could be answered", Err: w.ctx.Err()})
			return
		case !read && w.reads == 0:
			w.finish(v, Errorf(EUnavailable, "Too many long-polls are reading at once; retry"))
			return
		case !read:
			w.finish(w.last, nil)
			return
		case err != nil:
			w.finish(v, err)
			return
		}
		if w.reads++; w.reads == 1 && w.since == "" && w.q.SessionID == "" {
			w.since = v.ETag()
		}
		if worthAnswering(v, w.since) || w.ended() {
			w.finish(v, nil)
			return
		}
		w.last = v
		w.mu.Lock()
		if !w.again {
			w.running = false // until the next kick
			w.mu.Unlock()
			return
		}
		w.again = false
		w.mu.Unlock()
	}
}

// finish ends the watch and answers.
func (w *entitlementWatch) finish(v EntitlementView, err error) {
	w.mu.Lock()
	w.end = true
	w.mu.Unlock()
	w.unsubscribe()
	w.timer.Stop()
	w.stopCtx()
	w.stopDrain()
	w.answer(v, err)
}

// pollReadsAtOnce is how many long-polls read at once. Thousands opened
// together, or woken together, would otherwise all wait on the database's
// pool, which serves its waiters in random order: many would wait past their
// deadline and fail. Queued here they are served in order; more at once
// would not read faster (a replica has 10 PostgreSQL read connections).
const pollReadsAtOnce = 16

// pollRead is a long-poll's read of q, once pollReads admits it. It reports
// false, having read nothing, when the poll's time runs out (timeUp closes)
// or its caller leaves while it is queued.
func (s *Service) pollRead(ctx context.Context, q EntitlementQuery, timeUp <-chan struct{}) (EntitlementView, bool, error) {
	select {
	case s.pollReads <- struct{}{}:
	case <-timeUp:
		return EntitlementView{}, false, nil
	case <-ctx.Done():
		return EntitlementView{}, false, nil
	}
	defer func() { <-s.pollReads }()
	v, err := s.EntitlementFor(ctx, q)
	return v, true, err
}

// worthAnswering reports whether a long-poll holding since (see
// WaitEntitlement) should be answered with v.
func worthAnswering(v EntitlementView, since string) bool {
	if since != "" {
		return v.ETag() != since
	}
	c := v.Checkout
	return c != nil && (c.Ready || c.Status == CheckoutExpired)
}

// CheckoutView is a checkout session as its org sees it.
type CheckoutView struct {
	CheckoutSession
	EntitlementReady bool
}

// CheckoutSession returns one of the org's own sessions; another org's or an
// unknown one is ENotFound.
func (s *Service) CheckoutSession(ctx context.Context, orgID, sessionID string) (CheckoutView, error) {
	cs, err := s.orgCheckoutSession(ctx, orgID, sessionID)
	if err != nil {
		return CheckoutView{}, err
	}
	v, err := s.Entitlement(ctx, orgID)
	if err != nil {
		return CheckoutView{}, err
	}
	return CheckoutView{CheckoutSession: cs, EntitlementReady: checkoutReady(cs, v)}, nil
}

func (s *Service) orgCheckoutSession(ctx context.Context, orgID, sessionID string) (CheckoutSession, error) {
	cs, err := s.store.CheckoutSession(ctx, sessionID)
	if errors.Is(err, ErrNotFound) || (err == nil && cs.OrgID != orgID) {
		return CheckoutSession{}, Errorf(ENotFound, "Checkout session not found")
	}
	if err != nil {
		return CheckoutSession{}, fmt.Errorf("load checkout session: %w", err)
	}
	return cs, nil
}
