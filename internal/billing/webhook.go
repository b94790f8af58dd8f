package billing

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EventResult says what HandleEvent did with an event.
type EventResult struct {
	Outcome EventOutcome
	OrgID   string
}

// Duplicate reports whether the event had been handled before.
func (r EventResult) Duplicate() bool { return r.Outcome == OutcomeDuplicate }

// errNeedsAuthoritative asks HandleEvent to fetch the subscription from Stripe:
// the event is as old as the stored state, so it cannot tell which is newer.
var errNeedsAuthoritative = errors.New("billing: equal event time, authoritative state needed")

// HandleEvent applies a verified Stripe event. It is the only writer of
// entitlements. The event id is recorded in the same transaction as the effect,
// so a redelivery — even a concurrent one — has no second effect and reports
// OutcomeDuplicate. Any error means nothing was written and Stripe should retry.
func (s *Service) HandleEvent(ctx context.Context, ev Event) (EventResult, error) {
	if err := s.learnPrice(ctx, ev.Subscription); err != nil {
		return EventResult{Outcome: OutcomeFailed}, err
	}
	res, err := s.applyEvent(ctx, ev, nil)
	if errors.Is(err, errNeedsAuthoritative) {
		var fetched Subscription
		fetched, err = s.payments.Subscription(ctx, ev.Subscription.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			// Stripe has no such subscription any more: keep what we have.
			fetched, err = *ev.Subscription, nil
			res, err = s.applyEvent(ctx, ev, &fetched)
		case err == nil:
			res, err = s.applyEvent(ctx, ev, &fetched)
		}
	}
	if errors.Is(err, ErrDuplicateEvent) {
		return EventResult{Outcome: OutcomeDuplicate}, nil
	}
	if err != nil {
		return EventResult{Outcome: OutcomeFailed}, err
	}
	if res.OrgID != "" && res.Outcome == OutcomeApplied && s.notifier != nil {
		s.notifier.Notify(ctx, res.OrgID)
	}
	s.logOutcome(ctx, ev, res)
	return res, nil
}

func (s *Service) logOutcome(ctx context.Context, ev Event, res EventResult) {
	attrs := []any{"event_id", ev.ID, "event_type", ev.Type, "org_id", res.OrgID, "outcome", res.Outcome}
	switch {
	case res.Outcome == OutcomeUnknownOrg:
		s.log.WarnContext(ctx, "stripe event for an unknown organization; acknowledged", attrs...)
	case ev.Type == EventTrialWillEnd:
		s.log.InfoContext(ctx, "trial ends soon", attrs...)
	default:
		s.log.DebugContext(ctx, "stripe event handled", attrs...)
	}
}

// applyEvent runs one event in one transaction. authoritative, when set, is the
// subscription as fetched from Stripe and wins over the stored state.
func (s *Service) applyEvent(ctx context.Context, ev Event, authoritative *Subscription) (EventResult, error) {
	var res EventResult
	err := s.store.InTx(ctx, func(tx Store) error {
		// Record first: a redelivery stops here, before any work or Stripe call,
		// and a concurrent one waits on this row until we commit.
		err := tx.RecordEvent(ctx, EventRecord{ID: ev.ID, Type: ev.Type, Created: ev.Created, ReceivedAt: s.now()})
		if err != nil {
			return err
		}
		if res, err = s.dispatch(ctx, tx, ev, authoritative); err != nil {
			return err
		}
		return tx.SetEventOutcome(ctx, ev.ID, res.OrgID, res.Outcome)
	})
	return res, err
}

func (s *Service) dispatch(ctx context.Context, tx Store, ev Event, authoritative *Subscription) (EventResult, error) {
	switch {
	case ev.Type == EventTrialWillEnd: // a reminder, not a state change: logged only
		return EventResult{Outcome: OutcomeApplied}, nil
	case ev.Subscription != nil:
		sub := *ev.Subscription
		if authoritative != nil {
			sub = *authoritative
		}
		if ev.Type == EventSubscriptionDeleted {
			sub.Status = StatusCanceled
		}
		return s.withOrg(ctx, tx, sub.MetadataOrgID, sub.CustomerID, func(org string) (EventOutcome, error) {
			return s.applySubscription(ctx, tx, ev, sub, org, authoritative != nil)
		})
	case ev.Checkout != nil:
		co := ev.Checkout
		orgHint := co.OrgID
		if orgHint == "" {
			orgHint = co.ClientReferenceID
		}
		return s.withOrg(ctx, tx, orgHint, co.CustomerID, func(org string) (EventOutcome, error) {
			return s.applyCheckout(ctx, tx, ev, org)
		})
	case ev.Invoice != nil:
		inv := ev.Invoice
		return s.withOrg(ctx, tx, inv.OrgID, inv.CustomerID, func(org string) (EventOutcome, error) {
			return s.applyInvoice(ctx, tx, ev, org)
		})
	default:
		return EventResult{Outcome: OutcomeIgnored}, nil
	}
}

// withOrg resolves the event's org — its metadata, else its Customer — locks the
// org's row for the transaction, so concurrent events of one org apply one at a
// time, and runs apply. An org billingd does not know is acknowledged as such.
func (s *Service) withOrg(ctx context.Context, tx Store, orgID, customerID string, apply func(org string) (EventOutcome, error)) (EventResult, error) {
	if orgID == "" && customerID != "" {
		org, err := tx.OrganizationByCustomer(ctx, customerID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return EventResult{}, fmt.Errorf("resolve org of customer: %w", err)
		}
		orgID = org.ID
	}
	if orgID == "" {
		return EventResult{Outcome: OutcomeUnknownOrg}, nil
	}
	if _, err := tx.LockOrganization(ctx, orgID); errors.Is(err, ErrNotFound) {
		return EventResult{Outcome: OutcomeUnknownOrg, OrgID: orgID}, nil
	} else if err != nil {
		return EventResult{}, fmt.Errorf("lock organization: %w", err)
	}
	outcome, err := apply(orgID)
	return EventResult{Outcome: outcome, OrgID: orgID}, err
}

// applySubscription stores the subscription's new state unless the stored one
// is newer or final, then re-derives the org's entitlement from all of its
// subscriptions. Both steps depend only on the set of events seen, not on
// their order.
func (s *Service) applySubscription(ctx context.Context, tx Store, ev Event, sub Subscription, orgID string, authoritative bool) (EventOutcome, error) {
	cur, err := tx.Subscription(ctx, sub.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", fmt.Errorf("load subscription: %w", err)
	case cur.Status.Terminal():
		return OutcomeStale, nil // never resurrect a canceled subscription
	case ev.Created.Before(cur.EventCreated):
		return OutcomeStale, nil
	case ev.Created.Equal(cur.EventCreated) && !authoritative:
		return "", errNeedsAuthoritative
	}
	state := SubscriptionState{Subscription: sub, OrgID: orgID, Plan: s.planOf(sub), EventCreated: ev.Created, UpdatedAt: s.now()}
	if state.Plan == "" {
		s.log.WarnContext(ctx, "subscription price is not in the plan catalog; it grants no plan",
			"subscription_id", sub.ID, "price_id", sub.PriceID, "lookup_key", sub.LookupKey, "org_id", orgID)
	}
	if err := tx.SaveSubscription(ctx, state); err != nil {
		return "", fmt.Errorf("save subscription: %w", err)
	}
	if err := s.deriveEntitlement(ctx, tx, orgID); err != nil {
		return "", err
	}
	return OutcomeApplied, nil
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
// entitlement from it when it changed.
func (s *Service) deriveEntitlement(ctx context.Context, tx Store, orgID string) error {
	subs, err := tx.SubscriptionsByOrg(ctx, orgID)
	if err != nil {
		return fmt.Errorf("load subscriptions: %w", err)
	}
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
			CurrentPeriodEnd: current.CurrentPeriodEnd, CancelAtPeriodEnd: current.CancelAtPeriodEnd, EventCreated: current.EventCreated,
		}
		if next.SubscriptionPlan == "" {
			next.SubscriptionPlan = FreePlan
		}
	}
	prev, err := tx.Entitlement(ctx, orgID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("load entitlement: %w", err)
	}
	next.UpdatedAt = prev.UpdatedAt
	if err == nil && sameEntitlement(prev, next) {
		return nil
	}
	next.UpdatedAt = s.now()
	if err := tx.SaveEntitlement(ctx, next); err != nil {
		return fmt.Errorf("save entitlement: %w", err)
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
		a.CancelAtPeriodEnd == b.CancelAtPeriodEnd && a.EventCreated.Equal(b.EventCreated)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// applyCheckout records what became of a checkout session and links it to its
// subscription and Customer. A session that completed or expired stays so.
func (s *Service) applyCheckout(ctx context.Context, tx Store, ev Event, orgID string) (EventOutcome, error) {
	co := ev.Checkout
	next := CheckoutComplete
	if ev.Type == EventCheckoutExpired {
		next = CheckoutExpired
	}
	cs, err := tx.CheckoutSession(ctx, co.ID)
	switch {
	case errors.Is(err, ErrNotFound): // made outside billingd, e.g. in the Dashboard
		cs = CheckoutSession{ID: co.ID, OrgID: orgID, Status: CheckoutOpen, CreatedAt: s.now()}
	case err != nil:
		return "", fmt.Errorf("load checkout session: %w", err)
	case cs.OrgID != orgID:
		s.log.WarnContext(ctx, "checkout event names another organization than the session; ignored",
			"session_id", cs.ID, "session_org", cs.OrgID, "event_org", orgID)
		return OutcomeStale, nil
	case cs.Status != CheckoutOpen && cs.Status != next:
		return OutcomeStale, nil
	}
	cs.Status, cs.UpdatedAt = next, s.now()
	if co.SubscriptionID != "" {
		cs.SubscriptionID = co.SubscriptionID
	}
	if co.CustomerID != "" {
		cs.CustomerID = co.CustomerID
		if err := s.linkCustomer(ctx, tx, orgID, co.CustomerID); err != nil {
			return "", err
		}
	}
	if err := tx.SaveCheckoutSession(ctx, cs); err != nil {
		return "", fmt.Errorf("save checkout session: %w", err)
	}
	return OutcomeApplied, nil
}

// linkCustomer stores a checkout's Customer on an org that has none yet. A
// Customer that already belongs to another org is logged, not stored: failing
// would make Stripe retry the event forever.
func (s *Service) linkCustomer(ctx context.Context, tx Store, orgID, customerID string) error {
	owner, err := tx.OrganizationByCustomer(ctx, customerID)
	switch {
	case err == nil && owner.ID != orgID:
		s.log.WarnContext(ctx, "checkout customer belongs to another organization; not linked",
			"org_id", orgID, "customer_org", owner.ID, "customer_id", customerID)
		return nil
	case err == nil:
		return nil // already linked
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("look up customer: %w", err)
	}
	if _, err := tx.SetCustomerID(ctx, orgID, customerID); err != nil {
		return fmt.Errorf("link customer: %w", err)
	}
	return nil
}

// applyInvoice keeps the payment history. An older event never overwrites a
// newer one, and a paid invoice stays paid.
func (s *Service) applyInvoice(ctx context.Context, tx Store, ev Event, orgID string) (EventOutcome, error) {
	inv := ev.Invoice
	status := inv.Status
	if ev.Type == EventInvoicePaymentFailed {
		status = InvoicePaymentFailed
	}
	cur, err := tx.Payment(ctx, inv.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", fmt.Errorf("load payment: %w", err)
	case ev.Created.Before(cur.EventCreated), cur.Status == InvoicePaid && status != InvoicePaid:
		return OutcomeStale, nil
	}
	p := Payment{
		InvoiceID: inv.ID, OrgID: orgID, SubscriptionID: inv.SubscriptionID, AmountDue: inv.AmountDue,
		AmountPaid: inv.AmountPaid, Currency: inv.Currency, Status: status, HostedInvoiceURL: inv.HostedInvoiceURL,
		EventCreated: ev.Created, CreatedAt: inv.Created,
	}
	if err := tx.SavePayment(ctx, p); err != nil {
		return "", fmt.Errorf("save payment: %w", err)
	}
	return OutcomeApplied, nil
}
