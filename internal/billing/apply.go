package billing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// This file holds §5's rules for a subscription's state, shared by Stripe
// events (HandleEvent) and reconcile (ApplyStripeSubscription):
//   - final is final: a stored canceled or incomplete_expired subscription
//     never changes again, and a change that ends one wins whatever its time;
//   - otherwise an older change never overwrites a newer state, and on equal
//     times only Stripe's current state (fetched) decides;
//   - a subscription belongs to one org at a time: a change naming another
//     org moves it there and re-derives both orgs' entitlements.
// Together they make any delivery order of a set of events end the same.

// subscriptionChange is a subscription's state as an event or Stripe's API
// reports it.
type subscriptionChange struct {
	sub Subscription
	at  time.Time // the event's created time, or when sub was fetched
	// fetched: sub is Stripe's current state, so it also wins over a stored
	// state exactly as old as at (Stripe's times are whole seconds).
	fetched bool
	// reconcile: there is no event. A state already stored is not rewritten,
	// and the stored time never moves back.
	reconcile bool
}

// ApplyStripeSubscription applies sub, fetched from Stripe's API at fetchedAt
// (e.g. by subscriptions.list), as authoritative state under the same rules
// and through the same code as subscription events, in one transaction. It
// records no Stripe event. fetchedAt, truncated to whole seconds like Stripe's
// event times, stands in for the event time; the stored one never moves back.
//
// Outcomes:
//   - OutcomeApplied: sub was written and the entitlement re-derived (also
//     that of the org it moved from, in MovedFromOrgID);
//   - OutcomeUnchanged: the stored state already equals sub; nothing was
//     written, so a second reconcile run is a no-op;
//   - OutcomeStale: the stored state is final (never resurrected) or came from
//     an event newer than fetchedAt; nothing was written;
//   - OutcomeUnknownOrg: no org billingd knows owns sub; nothing was written.
//
// An error means nothing was written.
func (s *Service) ApplyStripeSubscription(ctx context.Context, sub Subscription, fetchedAt time.Time) (EventResult, error) {
	if err := s.learnPrice(ctx, &sub); err != nil {
		return EventResult{Outcome: OutcomeFailed}, err
	}
	ch := subscriptionChange{sub: sub, at: fetchedAt.UTC().Truncate(time.Second), fetched: true, reconcile: true}
	var res EventResult
	err := s.store.InTx(ctx, func(tx Store) error {
		var err error
		res, err = s.applySubscriptionChange(ctx, tx, ch)
		return err
	})
	if err != nil {
		return EventResult{Outcome: OutcomeFailed}, err
	}
	s.notifyApplied(ctx, res)
	attrs := []any{"subscription_id", sub.ID, "org_id", res.OrgID, "outcome", res.Outcome}
	if res.Outcome == OutcomeUnknownOrg {
		s.log.WarnContext(ctx, "subscription from Stripe belongs to no known organization", attrs...)
	} else {
		s.log.DebugContext(ctx, "subscription from Stripe applied", attrs...)
	}
	return res, nil
}

// verdict is what the rules say about a change of a stored subscription.
type verdict int

const (
	verdictApply verdict = iota
	verdictStale
	verdictUnchanged
	verdictNeedsFetch // as old as the stored state: only Stripe can tell
)

// judge applies the rules to next, the state ch would store over cur.
func judge(cur, next SubscriptionState, ch subscriptionChange) verdict {
	switch {
	case ch.reconcile && sameState(cur, next):
		return verdictUnchanged
	case cur.Status.Terminal():
		return verdictStale
	case next.Status.Terminal():
		return verdictApply
	case ch.at.Before(cur.EventCreated):
		return verdictStale
	case ch.at.Equal(cur.EventCreated) && !ch.fetched:
		return verdictNeedsFetch
	}
	return verdictApply
}

// applySubscriptionChange stores the state ch reports unless the rules say
// otherwise, then re-derives the entitlement of the subscription's org (and of
// the org it moved from).
func (s *Service) applySubscriptionChange(ctx context.Context, tx Store, ch subscriptionChange) (EventResult, error) {
	sub := ch.sub
	l, err := s.lockSubscriptionOrgs(ctx, tx, sub)
	if err != nil {
		return EventResult{}, err
	}
	res := EventResult{OrgID: l.orgID, Outcome: OutcomeUnknownOrg}
	if !l.known {
		return res, nil
	}
	next := SubscriptionState{Subscription: sub, OrgID: l.orgID, Plan: s.planOf(sub), EventCreated: ch.at, UpdatedAt: s.now()}
	if l.stored {
		switch judge(l.cur, next, ch) {
		case verdictStale:
			res.Outcome = OutcomeStale
			return res, nil
		case verdictUnchanged:
			res.Outcome = OutcomeUnchanged
			return res, nil
		case verdictNeedsFetch:
			return EventResult{}, errNeedsAuthoritative
		}
		if ch.reconcile && l.cur.EventCreated.After(next.EventCreated) {
			next.EventCreated = l.cur.EventCreated
		}
		if l.cur.OrgID != l.orgID {
			res.MovedFromOrgID = l.cur.OrgID
			s.log.WarnContext(ctx, "subscription moves to another organization",
				"subscription_id", sub.ID, "from_org", l.cur.OrgID, "org_id", l.orgID)
		}
	}
	s.warnUnusable(ctx, next)
	if err := tx.SaveSubscription(ctx, next); err != nil {
		return EventResult{}, fmt.Errorf("save subscription: %w", err)
	}
	for _, org := range []string{l.orgID, res.MovedFromOrgID} {
		if org == "" {
			continue
		}
		if err := s.deriveEntitlement(ctx, tx, org); err != nil {
			return EventResult{}, err
		}
	}
	res.Outcome = OutcomeApplied
	return res, nil
}

// lockedSubscription is a subscription's org, locked, and its stored state.
type lockedSubscription struct {
	orgID  string // the org it belongs to now; "" when none is named
	known  bool   // orgID has a row: the change can apply
	cur    SubscriptionState
	stored bool // cur is the stored state, read under the locks
}

// lockSubscriptionOrgs resolves the org sub belongs to, locks the stored
// subscription's row, then the rows of that org and of the org the
// subscription is stored under, in id order. A subscription whose metadata
// and Customer name no org stays where it is.
//
// The subscription's lock keeps its org from changing under us, so one read
// suffices; only a subscription not stored yet is read again under the org
// locks, in case a concurrent first event stored it meanwhile.
func (s *Service) lockSubscriptionOrgs(ctx context.Context, tx Store, sub Subscription) (lockedSubscription, error) {
	var l lockedSubscription
	var err error
	if l.orgID, err = s.resolveOrg(ctx, tx, sub.MetadataOrgID, sub.CustomerID); err != nil {
		return l, err
	}
	if l.cur, l.stored, err = storedSubscription(ctx, tx, sub.ID); err != nil {
		return l, err
	}
	if l.orgID == "" {
		l.orgID = l.cur.OrgID
	}
	if l.orgID == "" {
		return l, nil
	}
	found, err := lockOrgs(ctx, tx, l.orgID, l.cur.OrgID)
	if err != nil || found[l.orgID] == nil {
		return l, err
	}
	l.known = true
	if err := s.warnIfCustomerDisagrees(ctx, tx, *found[l.orgID], sub.MetadataOrgID, sub.CustomerID); err != nil {
		return l, err
	}
	if l.stored {
		return l, nil
	}
	if l.cur, l.stored, err = storedSubscription(ctx, tx, sub.ID); err != nil {
		return l, err
	}
	if _, tried := found[l.cur.OrgID]; l.stored && !tried {
		// Out of id order, but only after that race; a deadlock it could cause
		// is broken by the database, and Stripe retries the event.
		_, err = lockOrgs(ctx, tx, l.cur.OrgID)
	}
	return l, err
}

// lockOrgs locks the rows of the orgs ids names ("" skipped) in id order, so
// that two transactions locking the same orgs cannot deadlock, and returns
// each locked row by id (nil for an org that does not exist).
func lockOrgs(ctx context.Context, tx Store, ids ...string) (map[string]*Organization, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	found := make(map[string]*Organization, len(ids))
	for _, id := range ids {
		if id == "" {
			continue
		}
		org, err := tx.LockOrganization(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			found[id] = nil
		case err != nil:
			return nil, fmt.Errorf("lock organization: %w", err)
		default:
			found[id] = &org
		}
	}
	return found, nil
}

// storedSubscription locks and reads a subscription, and says whether it is stored.
func storedSubscription(ctx context.Context, tx Store, id string) (SubscriptionState, bool, error) {
	cur, err := tx.LockSubscription(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return SubscriptionState{}, false, nil
	case err != nil:
		return SubscriptionState{}, false, fmt.Errorf("load subscription: %w", err)
	}
	return cur, true, nil
}

// warnUnusable logs a state that grants nothing for a reason an operator
// should see: a price outside the catalog, a status Stripe added later.
func (s *Service) warnUnusable(ctx context.Context, st SubscriptionState) {
	if st.Status == StatusUnknown {
		s.log.WarnContext(ctx, "subscription has a status billingd does not know; it grants nothing",
			"subscription_id", st.ID, "stripe_status", st.RawStatus, "org_id", st.OrgID)
	}
	if st.Plan == "" {
		s.log.WarnContext(ctx, "subscription price is not in the plan catalog; it grants no plan",
			"subscription_id", st.ID, "price_id", st.PriceID, "lookup_key", st.LookupKey, "org_id", st.OrgID)
	}
}

// sameState reports whether a stored state already says what next says:
// every stored field of the subscription, its org and its plan. The metadata
// org and Stripe's raw status are not stored, so they are not compared.
func sameState(cur, next SubscriptionState) bool {
	a, b := cur.Subscription, next.Subscription
	return a.ID == b.ID && a.CustomerID == b.CustomerID && a.Status == b.Status && a.PriceID == b.PriceID &&
		a.LookupKey == b.LookupKey && a.Interval == b.Interval && a.Quantity == b.Quantity &&
		sameTime(a.TrialEnd, b.TrialEnd) && sameTime(a.CurrentPeriodEnd, b.CurrentPeriodEnd) &&
		a.CancelAtPeriodEnd == b.CancelAtPeriodEnd && sameTime(a.CancelAt, b.CancelAt) &&
		cur.OrgID == next.OrgID && cur.Plan == next.Plan
}

// learnPrice makes sure a subscription whose price carries no lookup key can
// still be mapped by price id, even when this process has not resolved the
// catalog yet (after a restart). It runs before the transaction, so no Stripe
// call holds a database lock; a failure makes Stripe retry rather than write an
// entitlement without its plan.
func (s *Service) learnPrice(ctx context.Context, sub *Subscription) error {
	if sub == nil || sub.LookupKey != "" || sub.PriceID == "" {
		return nil
	}
	if _, ok := s.prices.lookupKeyOf(sub.PriceID); ok {
		return nil
	}
	for _, plan := range s.opts.Catalog.Plans() {
		for _, key := range plan.LookupKeys {
			if _, err := s.prices.resolve(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// planOf maps a subscription to a catalog plan by its price's lookup key, else
// by the price id the cache resolved earlier.
func (s *Service) planOf(sub Subscription) string {
	key := sub.LookupKey
	if key == "" {
		key, _ = s.prices.lookupKeyOf(sub.PriceID)
	}
	if plan, _, ok := s.opts.Catalog.ByLookupKey(key); ok {
		return plan.Slug
	}
	return ""
}

// deriveEntitlement picks the org's current subscription and writes the
// entitlement from it when it changed. Only a change of what clients see (the
// view) gets the next Version and enqueues entitlement.changed, in the same
// transaction; a change they cannot see (a newer event saying the same, another
// price of the same plan) is stored quietly.
//
// The view also depends on the configuration (PAST_DUE_ACCESS, the catalog),
// applied when it is read; a restart with another one changes views without a
// Version or a message. The caller holds the org's row lock, which serializes
// the bumps of one org.
func (s *Service) deriveEntitlement(ctx context.Context, tx Store, orgID string) error {
	in, err := tx.EntitlementInputs(ctx, orgID)
	if err != nil {
		return fmt.Errorf("load subscriptions and entitlement: %w", err)
	}
	subs := in.Subscriptions
	var current *SubscriptionState
	for i := range subs {
		if current == nil || s.outranks(subs[i], *current) {
			current = &subs[i]
		}
	}
	next := NoEntitlement(orgID)
	if current != nil {
		next = Entitlement{
			OrgID: orgID, SubscriptionPlan: current.Plan, Status: current.Status, SubscriptionID: current.ID,
			PriceID: current.PriceID, Interval: current.Interval, Seats: current.Quantity, TrialEnd: current.TrialEnd,
			CurrentPeriodEnd: current.CurrentPeriodEnd, CancelAtPeriodEnd: current.CancelAtPeriodEnd,
			CancelAt: current.CancelAt, EventCreated: current.EventCreated,
		}
		if next.SubscriptionPlan == "" {
			next.SubscriptionPlan = FreePlan
		}
	}
	prev := NoEntitlement(orgID)
	if in.Entitlement != nil {
		if prev = *in.Entitlement; sameEntitlement(prev, next) {
			return nil
		}
	}
	next.UpdatedAt, next.Version = prev.UpdatedAt, prev.Version
	viewChanged := !sameView(s.view(prev), s.view(next))
	if viewChanged {
		next.UpdatedAt, next.Version = s.messageTime(), prev.Version+1
	}
	if err := tx.SaveEntitlement(ctx, next); err != nil {
		return fmt.Errorf("save entitlement: %w", err)
	}
	if !viewChanged {
		return nil
	}
	if err := tx.Enqueue(ctx, s.entitlementMessage(s.view(next))); err != nil {
		return fmt.Errorf("enqueue entitlement.changed: %w", err)
	}
	return nil
}

// outranks decides which of an org's subscriptions is current: one that grants
// access beats one that does not (so an event for another subscription replaces
// the current one only when it grants access or the current one no longer
// does); otherwise the newer event wins, then the larger id, so the choice never
// depends on delivery order.
func (s *Service) outranks(a, b SubscriptionState) bool {
	ga, gb := s.opts.Access.Grants(a.Status), s.opts.Access.Grants(b.Status)
	switch {
	case ga != gb:
		return ga
	case !a.EventCreated.Equal(b.EventCreated):
		return a.EventCreated.After(b.EventCreated)
	default:
		return a.ID > b.ID
	}
}

func sameEntitlement(a, b Entitlement) bool {
	return a.SubscriptionPlan == b.SubscriptionPlan && a.Status == b.Status && a.SubscriptionID == b.SubscriptionID &&
		a.PriceID == b.PriceID && a.Interval == b.Interval && a.Seats == b.Seats &&
		sameTime(a.TrialEnd, b.TrialEnd) && sameTime(a.CurrentPeriodEnd, b.CurrentPeriodEnd) &&
		a.CancelAtPeriodEnd == b.CancelAtPeriodEnd && sameTime(a.CancelAt, b.CancelAt) &&
		a.EventCreated.Equal(b.EventCreated)
}

// sameView reports whether two views show clients the same, apart from when
// and how often the entitlement was written.
func sameView(a, b EntitlementView) bool {
	return a.OrgID == b.OrgID && a.Plan == b.Plan && a.Status == b.Status && a.Active == b.Active &&
		a.Seats == b.Seats && slices.Equal(a.Features, b.Features) && sameTime(a.TrialEnd, b.TrialEnd) &&
		sameTime(a.CurrentPeriodEnd, b.CurrentPeriodEnd) && a.CancelAtPeriodEnd == b.CancelAtPeriodEnd &&
		sameTime(a.CancelAt, b.CancelAt)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
