package billing

import (
	"context"
	"errors"
	"fmt"
)

// EventResult says what HandleEvent (or ApplyStripeSubscription) did.
type EventResult struct {
	Outcome EventOutcome
	OrgID   string
	// MovedFromOrgID is the org a subscription was taken from because the
	// event named another one; both orgs' entitlements were re-derived.
	MovedFromOrgID string
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
	res, err := s.batches.apply(ctx, s, ev)
	if errors.Is(err, errApplyAlone) {
		res, err = s.applyAlone(ctx, ev)
	}
	if errors.Is(err, ErrDuplicateEvent) {
		return EventResult{Outcome: OutcomeDuplicate}, nil
	}
	if err != nil {
		return EventResult{Outcome: OutcomeFailed}, err
	}
	s.notifyApplied(ctx, res)
	s.logOutcome(ctx, ev, res)
	return res, nil
}

// applyAlone applies ev in a transaction of its own.
func (s *Service) applyAlone(ctx context.Context, ev Event) (EventResult, error) {
	res, err := s.applyEvent(ctx, ev, nil)
	if errors.Is(err, errNeedsAuthoritative) {
		res, err = s.applyEventFetched(ctx, ev)
	}
	return res, err
}

// applyEventFetched applies ev with its subscription as Stripe has it now.
func (s *Service) applyEventFetched(ctx context.Context, ev Event) (EventResult, error) {
	fetched, err := s.payments.Subscription(ctx, ev.Subscription.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		// Stripe has no such subscription any more: the event is all we know.
		fetched = *ev.Subscription
	case err != nil:
		return EventResult{}, err
	}
	if err := s.learnPrice(ctx, &fetched); err != nil {
		return EventResult{}, err
	}
	return s.applyEvent(ctx, ev, &fetched)
}

// notifyApplied wakes the long-polls of every org an applied change touched.
func (s *Service) notifyApplied(ctx context.Context, res EventResult) {
	if res.Outcome != OutcomeApplied || s.notifier == nil {
		return
	}
	for _, org := range []string{res.OrgID, res.MovedFromOrgID} {
		if org != "" {
			s.notifier.Notify(ctx, org)
		}
	}
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
		var err error
		res, err = s.applyEventIn(ctx, tx, ev, authoritative)
		return err
	})
	return res, err
}

// receiptOf is the receipt stored for ev before it is applied: with the usual
// outcome, applied to the org the object names, corrected only when it is
// another (one statement fewer for most events).
func (s *Service) receiptOf(ev Event) EventRecord {
	return EventRecord{ID: ev.ID, Type: ev.Type, Created: ev.Created, ReceivedAt: s.now(), OrgID: namedOrg(ev), Outcome: OutcomeApplied}
}

// applyEventIn is applyEvent in tx.
func (s *Service) applyEventIn(ctx context.Context, tx Store, ev Event, authoritative *Subscription) (EventResult, error) {
	// Record first: a redelivery stops here, before any work or Stripe call,
	// and a concurrent one waits on this row until we commit.
	guess := s.receiptOf(ev)
	if err := tx.RecordEvent(ctx, guess); err != nil {
		return EventResult{}, err
	}
	res, err := s.dispatch(ctx, tx, ev, authoritative)
	if err != nil || (res.OrgID == guess.OrgID && res.Outcome == guess.Outcome) {
		return res, err
	}
	return res, tx.SetEventOutcome(ctx, ev.ID, res.OrgID, res.Outcome)
}

// namedOrg is the org an event's object names: its metadata's, for a
// Checkout Session else its client_reference_id; "" if none.
func namedOrg(ev Event) string {
	switch {
	case ev.Subscription != nil:
		return ev.Subscription.MetadataOrgID
	case ev.Checkout != nil && ev.Checkout.OrgID != "":
		return ev.Checkout.OrgID
	case ev.Checkout != nil:
		return ev.Checkout.ClientReferenceID
	case ev.Invoice != nil:
		return ev.Invoice.OrgID
	}
	return ""
}

func (s *Service) dispatch(ctx context.Context, tx Store, ev Event, authoritative *Subscription) (EventResult, error) {
	switch {
	case ev.Type == EventTrialWillEnd: // a reminder, not a state change: logged only
		return EventResult{Outcome: OutcomeApplied}, nil
	case ev.Subscription != nil:
		ch := subscriptionChange{sub: *ev.Subscription, at: ev.Created, fetched: authoritative != nil}
		if authoritative != nil {
			ch.sub = *authoritative
		}
		if ev.Type == EventSubscriptionDeleted {
			ch.sub.Status, ch.sub.RawStatus = StatusCanceled, ""
		}
		return s.applySubscriptionChange(ctx, tx, ch)
	case ev.Checkout != nil:
		return s.withOrg(ctx, tx, namedOrg(ev), ev.Checkout.CustomerID, func(org string) (EventOutcome, error) {
			return s.applyCheckout(ctx, tx, ev, org)
		})
	case ev.Invoice != nil:
		return s.withOrg(ctx, tx, namedOrg(ev), ev.Invoice.CustomerID, func(org string) (EventOutcome, error) {
			return s.applyInvoice(ctx, tx, ev, org)
		})
	default:
		return EventResult{Outcome: OutcomeIgnored}, nil
	}
}

// withOrg resolves the event's org (see resolveOrg), locks the org's row for
// the transaction, so concurrent events of one org apply one at a time, and
// runs apply. An org billingd does not know is acknowledged as such.
func (s *Service) withOrg(ctx context.Context, tx Store, metadataOrg, customerID string, apply func(org string) (EventOutcome, error)) (EventResult, error) {
	orgID, err := s.resolveOrg(ctx, tx, metadataOrg, customerID)
	if err != nil {
		return EventResult{}, err
	}
	if orgID == "" {
		return EventResult{Outcome: OutcomeUnknownOrg}, nil
	}
	org, err := tx.LockOrganization(ctx, orgID)
	if errors.Is(err, ErrNotFound) {
		return EventResult{Outcome: OutcomeUnknownOrg, OrgID: orgID}, nil
	} else if err != nil {
		return EventResult{}, fmt.Errorf("lock organization: %w", err)
	}
	if err := s.warnIfCustomerDisagrees(ctx, tx, org, metadataOrg, customerID); err != nil {
		return EventResult{}, err
	}
	outcome, err := apply(orgID)
	return EventResult{Outcome: outcome, OrgID: orgID}, err
}

// resolveOrg names the org an object belongs to: its metadata's, else its
// Customer's; "" when neither names one. Metadata wins when they disagree
// (warnIfCustomerDisagrees says so once the org is locked), so the common
// case, an object carrying its org, costs no query here.
func (s *Service) resolveOrg(ctx context.Context, tx Store, metadataOrg, customerID string) (string, error) {
	if metadataOrg != "" || customerID == "" {
		return metadataOrg, nil
	}
	owner, err := tx.OrganizationByCustomer(ctx, customerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("resolve org of customer: %w", err)
	}
	return owner.ID, nil
}

// warnIfCustomerDisagrees logs when the object's metadata names org but its
// Customer belongs to another org: someone changed one of them at Stripe. It
// looks the Customer up only when it is not the org's own.
func (s *Service) warnIfCustomerDisagrees(ctx context.Context, tx Store, org Organization, metadataOrg, customerID string) error {
	if metadataOrg == "" || customerID == "" || org.StripeCustomerID == customerID {
		return nil
	}
	owner, err := tx.OrganizationByCustomer(ctx, customerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("resolve org of customer: %w", err)
	case owner.ID != metadataOrg:
		s.log.WarnContext(ctx, "metadata names another organization than the Customer's; metadata wins",
			"metadata_org", metadataOrg, "customer_org", owner.ID, "customer_id", customerID)
	}
	return nil
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

// invoiceStatus is the status stored for an invoice event: payment_failed
// for a failed payment; else the invoice's own, which payloads of older API
// versions lack, so then the one its event type implies.
func invoiceStatus(eventType, status string) string {
	switch {
	case eventType == EventInvoicePaymentFailed:
		return InvoicePaymentFailed
	case status == "" && (eventType == EventInvoicePaid || eventType == EventInvoicePaymentSucceeded):
		return InvoicePaid
	}
	return status
}

// applyInvoice keeps the payment history. An older event never overwrites a
// newer one, and a paid invoice stays paid. A payment that enters the history
// or changes there enqueues payment.succeeded or payment.failed.
func (s *Service) applyInvoice(ctx context.Context, tx Store, ev Event, orgID string) (EventOutcome, error) {
	inv := ev.Invoice
	status := invoiceStatus(ev.Type, inv.Status)
	cur, err := tx.Payment(ctx, inv.ID)
	found := err == nil
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
	if found && inHistoryOf(cur, orgID) && samePayment(paymentView(cur), paymentView(p)) {
		return OutcomeApplied, nil // what receivers were told still holds
	}
	if msg, ok := s.paymentMessage(orgID, paymentView(p)); ok {
		if err := tx.Enqueue(ctx, msg); err != nil {
			return "", fmt.Errorf("enqueue %s: %w", msg.Type, err)
		}
	}
	return OutcomeApplied, nil
}
