package billing

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Event batches. On a store that batches events (EventBatcher), subscription
// events that arrive while others are being applied wait, and the next
// transaction applies up to maxEventBatch of them together: one statement
// records all their receipts, one locks their subscriptions, one their
// orgs, one reads what their entitlements derive from, and one each writes
// the subscriptions, the entitlements and the messages. Each event still
// goes through the same rules (applyEventIn), in arrival order, against the
// batch's state as the events before it left it (batchTx), so the outcome
// is that of applying them one after another.
//
// Whatever a batch cannot decide from what it read (an event that needs
// Stripe's current state, a row outside what it locked, a redelivery of an
// event in the same batch) is applied alone after the batch commits, as
// without batching; so is every event of a batch that failed, which wrote
// nothing. Events arriving while no more than eventBatchLeaders are applied
// run alone at once: batches form only while events queue.
const (
	maxEventBatch     = 32
	eventBatchLeaders = 2
)

// errApplyAlone says an event must be applied in a transaction of its own.
var errApplyAlone = errors.New("billing: event to be applied alone")

// eventBatches queues the events waiting for a batch.
type eventBatches struct {
	mu      sync.Mutex
	queue   []*queuedEvent
	leaders int // batches (or single events) being applied
	leads   int // the most that run at once
	batched int // events applied in batches of more than one: tests only
}

// queuedEvent is an event waiting for its batch.
type queuedEvent struct {
	ev   Event
	done chan batchResult // buffered: one result
}

type batchResult struct {
	res  EventResult
	err  error
	lead bool // the receiver leads the next batch
}

// newEventBatches returns the queue for store, or nil if it does not batch.
func newEventBatches(store Store) *eventBatches {
	if b, ok := store.(EventBatcher); !ok || !b.BatchesEvents() {
		return nil
	}
	return &eventBatches{leads: eventBatchLeaders}
}

// batchable reports whether a batch can apply ev: a subscription change that
// names its org. Others need reads a batch does not make.
func batchable(ev Event) bool {
	return ev.Subscription != nil && ev.Subscription.MetadataOrgID != "" && ev.Type != EventTrialWillEnd
}

// apply applies ev in a batch, or returns errApplyAlone.
func (b *eventBatches) apply(ctx context.Context, s *Service, ev Event) (EventResult, error) {
	if b == nil || !batchable(ev) {
		return EventResult{}, errApplyAlone
	}
	q := &queuedEvent{ev: ev, done: make(chan batchResult, 1)}
	b.mu.Lock()
	if b.leaders < b.leads {
		b.leaders++
		b.mu.Unlock()
		return b.lead(ctx, s, q)
	}
	b.queue = append(b.queue, q)
	b.mu.Unlock()
	var r batchResult
	select {
	case r = <-q.done:
	case <-ctx.Done():
		b.mu.Lock()
		i := slices.Index(b.queue, q)
		if i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
		}
		b.mu.Unlock()
		if i >= 0 {
			return EventResult{}, ctx.Err()
		}
		r = <-q.done // taken already: its batch answers
	}
	if r.lead {
		return b.lead(ctx, s, q)
	}
	return r.res, r.err
}

// lead applies first and the events queued behind it, then hands the turn on
// to the next queued event.
func (b *eventBatches) lead(ctx context.Context, s *Service, first *queuedEvent) (EventResult, error) {
	b.mu.Lock()
	n := min(len(b.queue), maxEventBatch-1)
	batch := append([]*queuedEvent{first}, b.queue[:n]...)
	b.queue = slices.Clone(b.queue[n:])
	b.mu.Unlock()
	answered := 1
	defer func() {
		for _, q := range batch[answered:] { // a panic: nothing committed for them
			q.done <- batchResult{err: errApplyAlone}
		}
		b.handOff()
	}()
	if len(batch) == 1 {
		// Alone, but holding the turn: meanwhile the next events queue.
		return s.applyAlone(ctx, first.ev)
	}
	// The batch's transaction must outlive its leader's request: a client
	// hanging up must not undo the others' work. The store's deadline ends it.
	results := s.applyBatch(context.WithoutCancel(ctx), batch)
	b.mu.Lock()
	b.batched += len(batch)
	b.mu.Unlock()
	for ; answered < len(batch); answered++ {
		batch[answered].done <- results[answered]
	}
	return results[0].res, results[0].err
}

// handOff gives the turn to the first queued event, or frees it.
func (b *eventBatches) handOff() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.leaders--
		return
	}
	next := b.queue[0]
	b.queue = slices.Delete(b.queue, 0, 1)
	next.done <- batchResult{lead: true}
}

// applyBatch applies the events of batch in one transaction and returns each
// one's result: errApplyAlone for those it left, and for all if the
// transaction failed.
func (s *Service) applyBatch(ctx context.Context, batch []*queuedEvent) []batchResult {
	results := make([]batchResult, len(batch))
	err := s.store.InTx(ctx, func(tx Store) error {
		btx, ok := tx.(EventBatchTx)
		if !ok {
			return errors.New("billing: the store's transaction does not batch events")
		}
		return s.runBatch(ctx, btx, batch, results)
	})
	if err != nil {
		s.log.DebugContext(ctx, "event batch failed; its events are applied one by one", "events", len(batch), "error", err)
		for i := range results {
			results[i] = batchResult{err: errApplyAlone}
		}
	}
	return results
}

// runBatch is applyBatch's transaction.
func (s *Service) runBatch(ctx context.Context, tx EventBatchTx, batch []*queuedEvent, results []batchResult) error {
	// Receipts first, in id order (so two batches cannot deadlock on them),
	// each event once: a redelivery in the same batch waits for this one's
	// outcome, alone, as it would without batching.
	receipts := make([]EventRecord, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for i, q := range batch {
		if seen[q.ev.ID] {
			results[i].err = errApplyAlone
			continue
		}
		seen[q.ev.ID] = true
		receipts = append(receipts, s.receiptOf(q.ev))
	}
	slices.SortFunc(receipts, func(a, b EventRecord) int { return strings.Compare(a.ID, b.ID) })
	inserted, err := tx.RecordEvents(ctx, receipts)
	if err != nil {
		return err
	}
	var live []int
	for i, q := range batch {
		switch {
		case results[i].err != nil:
		case !inserted[q.ev.ID]:
			results[i].err = ErrDuplicateEvent
		default:
			live = append(live, i)
		}
	}
	st, err := s.readBatchState(ctx, tx, batch, live)
	if err != nil {
		return err
	}
	var forget []string
	for _, i := range live {
		ev := batch[i].ev
		btx := &batchTx{Store: tx, state: st.clone()}
		res, err := s.applyEventIn(ctx, btx, ev, nil)
		if err != nil {
			// Applied alone after the commit: its receipt goes, and so do
			// its writes.
			results[i].err = errApplyAlone
			forget = append(forget, ev.ID)
			continue
		}
		st = btx.state
		results[i].res = res
	}
	return st.write(ctx, tx, forget)
}

// readBatchState locks and reads what the live events of batch apply to:
// their subscriptions, then the orgs those name or are stored under (both in
// id order, as applyEventIn locks them), then what those orgs' entitlements
// derive from, and the subscriptions not stored at the first read, in case a
// concurrent first event stored one before the orgs were locked.
func (s *Service) readBatchState(ctx context.Context, tx EventBatchTx, batch []*queuedEvent, live []int) (*batchState, error) {
	st := &batchState{
		subs: map[string]SubscriptionState{}, wantSubs: map[string]bool{}, orgs: map[string]*Organization{},
		ents: map[string]Entitlement{}, dirtySubs: map[string]bool{}, dirtyEnts: map[string]bool{},
	}
	var orgIDs []string
	for _, i := range live {
		sub := batch[i].ev.Subscription
		st.wantSubs[sub.ID] = true
		orgIDs = append(orgIDs, sub.MetadataOrgID)
	}
	subIDs := slices.Sorted(maps.Keys(st.wantSubs))
	locked, err := tx.LockSubscriptions(ctx, subIDs)
	if err != nil {
		return nil, err
	}
	for _, sub := range locked {
		st.subs[sub.ID] = sub
		orgIDs = append(orgIDs, sub.OrgID)
	}
	orgIDs = slices.Compact(slices.Sorted(slices.Values(orgIDs)))
	orgs, err := tx.LockOrganizations(ctx, orgIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range orgIDs {
		st.orgs[id] = nil // looked for: not found unless listed below
	}
	var found []string
	for _, org := range orgs {
		st.orgs[org.ID] = &org
		found = append(found, org.ID)
	}
	var unstored []string
	for _, id := range subIDs {
		if _, ok := st.subs[id]; !ok {
			unstored = append(unstored, id)
		}
	}
	subs, ents, err := tx.EntitlementInputsOf(ctx, found, unstored)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		if _, ok := st.orgs[sub.OrgID]; !ok {
			// Stored meanwhile under an org this batch did not lock: its
			// event applies alone.
			delete(st.wantSubs, sub.ID)
		}
		st.subs[sub.ID] = sub
	}
	for _, e := range ents {
		st.ents[e.OrgID] = e
	}
	return st, nil
}

// batchState is what a batch knows: the rows it read, as the events applied
// so far changed them, and what it is to write.
type batchState struct {
	subs      map[string]SubscriptionState // by id: the batch's own, and every one of its orgs'
	wantSubs  map[string]bool              // the batch's own, locked if stored (under a locked org)
	orgs      map[string]*Organization     // locked; nil: looked for, not found
	ents      map[string]Entitlement       // of orgs
	dirtySubs map[string]bool
	dirtyEnts map[string]bool
	outcomes  []EventRecord
	messages  []Message
}

// clone is a copy for the next event to change: it replaces the batch's
// state only if that event applies.
func (st *batchState) clone() *batchState {
	c := *st
	c.subs, c.ents = maps.Clone(st.subs), maps.Clone(st.ents)
	c.dirtySubs, c.dirtyEnts = maps.Clone(st.dirtySubs), maps.Clone(st.dirtyEnts)
	c.outcomes, c.messages = slices.Clip(st.outcomes), slices.Clip(st.messages)
	return &c
}

// write stores what the batch's events changed, and forgets the receipts of
// those it left.
func (st *batchState) write(ctx context.Context, tx EventBatchTx, forget []string) error {
	if err := tx.ForgetEvents(ctx, forget); err != nil {
		return err
	}
	subs := make([]SubscriptionState, 0, len(st.dirtySubs))
	for _, id := range slices.Sorted(maps.Keys(st.dirtySubs)) {
		subs = append(subs, st.subs[id])
	}
	if err := tx.SaveSubscriptions(ctx, subs); err != nil {
		return err
	}
	ents := make([]Entitlement, 0, len(st.dirtyEnts))
	for _, org := range slices.Sorted(maps.Keys(st.dirtyEnts)) {
		ents = append(ents, st.ents[org])
	}
	if err := tx.SaveEntitlements(ctx, ents); err != nil {
		return err
	}
	if err := tx.SetEventOutcomes(ctx, st.outcomes); err != nil {
		return err
	}
	return tx.Enqueue(ctx, st.messages...)
}

// batchTx is the Store one event of a batch is applied with: the batch's
// state answers its reads and keeps its writes. A call the state cannot
// answer, and any write outside it, is errApplyAlone: the event leaves the
// batch. Reads of what batches never write (a Customer's org) go to the
// transaction.
type batchTx struct {
	Store
	state *batchState
}

func (t *batchTx) RecordEvent(context.Context, EventRecord) error { return nil } // the batch did

func (t *batchTx) SetEventOutcome(_ context.Context, id, orgID string, outcome EventOutcome) error {
	t.state.outcomes = append(t.state.outcomes, EventRecord{ID: id, OrgID: orgID, Outcome: outcome})
	return nil
}

func (t *batchTx) LockSubscription(_ context.Context, id string) (SubscriptionState, error) {
	if !t.state.wantSubs[id] {
		return SubscriptionState{}, errApplyAlone
	}
	if sub, ok := t.state.subs[id]; ok {
		return sub, nil
	}
	return SubscriptionState{}, ErrNotFound
}

func (t *batchTx) LockOrganization(_ context.Context, id string) (Organization, error) {
	org, ok := t.state.orgs[id]
	switch {
	case !ok:
		return Organization{}, errApplyAlone
	case org == nil:
		return Organization{}, ErrNotFound
	}
	return *org, nil
}

func (t *batchTx) EntitlementInputs(_ context.Context, orgID string) (EntitlementInputs, error) {
	if org := t.state.orgs[orgID]; org == nil {
		return EntitlementInputs{}, errApplyAlone
	}
	var in EntitlementInputs
	for _, id := range slices.Sorted(maps.Keys(t.state.subs)) {
		if sub := t.state.subs[id]; sub.OrgID == orgID {
			in.Subscriptions = append(in.Subscriptions, sub)
		}
	}
	if e, ok := t.state.ents[orgID]; ok {
		in.Entitlement = &e
	}
	return in, nil
}

func (t *batchTx) SaveSubscription(_ context.Context, sub SubscriptionState) error {
	if !t.state.wantSubs[sub.ID] {
		return errApplyAlone
	}
	t.state.subs[sub.ID] = sub
	t.state.dirtySubs[sub.ID] = true
	return nil
}

func (t *batchTx) SaveEntitlement(_ context.Context, e Entitlement) error {
	if org := t.state.orgs[e.OrgID]; org == nil {
		return errApplyAlone
	}
	t.state.ents[e.OrgID] = e
	t.state.dirtyEnts[e.OrgID] = true
	return nil
}

func (t *batchTx) Enqueue(_ context.Context, msgs ...Message) error {
	t.state.messages = append(t.state.messages, msgs...)
	return nil
}

// What the batch's state does not hold, an event of the batch must not read
// from the transaction (it would miss the batch's writes), nor write there
// (its writes would stay if it then left the batch).

func (t *batchTx) InTx(context.Context, func(Store) error) error { return errApplyAlone }

func (t *batchTx) Subscription(context.Context, string) (SubscriptionState, error) {
	return SubscriptionState{}, errApplyAlone
}

func (t *batchTx) Entitlement(context.Context, string) (Entitlement, error) {
	return Entitlement{}, errApplyAlone
}

func (t *batchTx) EntitlementsOf(context.Context, []string) ([]Entitlement, error) {
	return nil, errApplyAlone
}

func (t *batchTx) EnsureOrganization(context.Context, Organization) (Organization, error) {
	return Organization{}, errApplyAlone
}

func (t *batchTx) SetCustomerID(context.Context, string, string) (Organization, error) {
	return Organization{}, errApplyAlone
}

func (t *batchTx) SaveCheckoutSession(context.Context, CheckoutSession) error { return errApplyAlone }

func (t *batchTx) SavePayment(context.Context, Payment) error { return errApplyAlone }

func (t *batchTx) SaveIdempotentResponse(context.Context, IdempotentResponse) error {
	return errApplyAlone
}
