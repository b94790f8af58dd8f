// Package reconcile heals billingd's state from Stripe's when webhooks were
// lost: it feeds the events Stripe could not deliver, and the subscriptions of
// orgs whose state looks unfinished, through the webhook pipeline, so nothing
// is written that the pipeline's rules would not write. It also prunes event
// ids older than billingd keeps.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// Reasons an org's subscriptions are listed from Stripe.
const (
	ReasonCheckoutWithoutSubscription = "checkout_without_subscription"
	ReasonAccessAfterPeriodEnd        = "access_after_period_end"
	ReasonBackfill                    = "backfill"
)

// Kinds of fix, the kind label of billingd_reconcile_fixes_total.
const (
	FixEvent        = "undelivered_event"
	FixSubscription = "subscription_state"
)

// Candidate is an org whose subscriptions reconcile lists from Stripe.
type Candidate struct {
	OrgID      string
	CustomerID string
	Reason     string
}

// Stripe is what reconcile reads from Stripe.
type Stripe interface {
	// UndeliveredEvents lists the handled events created at or after since
	// whose delivery has not succeeded, oldest first.
	UndeliveredEvents(ctx context.Context, since time.Time) ([]billing.Event, error)
	// CustomerSubscriptions lists every subscription of the Customer, any status.
	CustomerSubscriptions(ctx context.Context, customerID string) ([]billing.Subscription, error)
}

// Store is what reconcile reads and prunes in billingd's database.
type Store interface {
	// Unfinished returns the orgs with a completed checkout whose subscription
	// is not stored, and those whose entitlement grants access past its
	// period end at now.
	Unfinished(ctx context.Context, now time.Time) ([]Candidate, error)
	// WithCustomer returns every org that has a Stripe Customer.
	WithCustomer(ctx context.Context) ([]Candidate, error)
	// RecordedEvents returns those of ids whose events billingd has recorded.
	RecordedEvents(ctx context.Context, ids []string) ([]string, error)
	// PruneEvents deletes the receipts of Stripe events created before cutoff
	// and returns how many it deleted.
	PruneEvents(ctx context.Context, cutoff time.Time) (int64, error)
}

// Writer is the webhook pipeline, the only writer of entitlements.
type Writer interface {
	HandleEvent(ctx context.Context, ev billing.Event) (billing.EventResult, error)
	ApplyStripeSubscription(ctx context.Context, sub billing.Subscription, fetchedAt time.Time) (billing.EventResult, error)
}

// Options configure a Reconciler.
type Options struct {
	// Retention is how long Stripe event ids are kept (EVENT_RETENTION).
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
	// Observe, when set, is told of each run's report and error (metrics).
	Observe func(Report, error)
}

// Run options: how far back to look, and whether to list every org.
type RunOptions struct {
	// Since is how far back undelivered events are listed (default
	// DefaultSince: Stripe retries a delivery for three days).
	Since time.Duration
	// All lists the subscriptions of every org with a Customer (a backfill).
	All bool
}

// DefaultSince is how far back a run looks for undelivered events, and
// DefaultRetention how long event ids are kept when Options name none.
const (
	DefaultSince     = 72 * time.Hour
	DefaultRetention = 720 * time.Hour
)

// Report says what one run did.
type Report struct {
	Events        int            // undelivered events seen
	Orgs          int            // orgs whose subscriptions were listed
	Subscriptions int            // subscriptions seen
	Fixes         map[string]int // by kind
	Pruned        int64          // event receipts deleted
	Failures      int            // items that failed and are left for the next run
}

// Reconciler runs reconcile.
type Reconciler struct {
	stripe Stripe
	store  Store
	writer Writer
	opts   Options
	log    *slog.Logger
}

// New returns a Reconciler over its ports.
func New(stripe Stripe, store Store, writer Writer, opts Options) *Reconciler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	return &Reconciler{stripe: stripe, store: store, writer: writer, opts: opts, log: opts.Logger}
}

// Run reconciles once. A failure on one item does not stop the others; the
// error, if any, names what failed, and the next run tries again.
func (r *Reconciler) Run(ctx context.Context, o RunOptions) (Report, error) {
	if o.Since <= 0 {
		o.Since = DefaultSince
	}
	rep := Report{Fixes: map[string]int{}}
	now := r.opts.Now()
	err := errors.Join(
		r.replayEvents(ctx, now.Add(-o.Since), &rep),
		r.healOrgs(ctx, now, o.All, &rep),
		r.prune(ctx, now, &rep),
	)
	if r.opts.Observe != nil {
		r.opts.Observe(rep, err)
	}
	r.log.InfoContext(ctx, "reconcile finished", "events", rep.Events, "orgs", rep.Orgs,
		"subscriptions", rep.Subscriptions, "fixes", rep.Fixes, "pruned", rep.Pruned, "failures", rep.Failures, "error", err)
	return rep, err
}

// Prune deletes event receipts older than the retention, on its own schedule.
func (r *Reconciler) Prune(ctx context.Context) error {
	var rep Report
	return r.prune(ctx, r.opts.Now(), &rep)
}

// replayEvents feeds each undelivered event billingd has not recorded
// through the pipeline. "Undelivered" means to any of the account's
// endpoints, so most are usually recorded already: one query skips them
// instead of a transaction each (the pipeline would call them duplicates).
func (r *Reconciler) replayEvents(ctx context.Context, since time.Time, rep *Report) error {
	events, err := r.stripe.UndeliveredEvents(ctx, since)
	if err != nil {
		rep.Failures++
		return fmt.Errorf("reconcile: list undelivered events: %w", err)
	}
	rep.Events = len(events)
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	recorded, err := r.store.RecordedEvents(ctx, ids)
	if err != nil {
		rep.Failures++
		return fmt.Errorf("reconcile: find recorded events: %w", err)
	}
	skip := make(map[string]bool, len(recorded))
	for _, id := range recorded {
		skip[id] = true
	}
	var errs []error
	for _, ev := range events {
		if skip[ev.ID] {
			continue
		}
		res, err := r.writer.HandleEvent(ctx, ev)
		if err != nil {
			rep.Failures++
			errs = append(errs, fmt.Errorf("reconcile: event %s: %w", ev.ID, err))
			continue
		}
		if res.Outcome == billing.OutcomeApplied {
			r.fixed(ctx, rep, FixEvent, res.OrgID, "undelivered "+ev.Type, "event_id", ev.ID)
		}
	}
	return errors.Join(errs...)
}

// healOrgs applies Stripe's own state of each unfinished org's subscriptions.
func (r *Reconciler) healOrgs(ctx context.Context, now time.Time, all bool, rep *Report) error {
	var candidates []Candidate
	var err error
	if all {
		candidates, err = r.store.WithCustomer(ctx)
	} else {
		candidates, err = r.store.Unfinished(ctx, now)
	}
	if err != nil {
		rep.Failures++
		return fmt.Errorf("reconcile: find orgs: %w", err)
	}
	var errs []error
	listed := map[string]bool{}
	for _, c := range candidates {
		if c.CustomerID == "" || listed[c.CustomerID] {
			continue
		}
		listed[c.CustomerID] = true
		rep.Orgs++
		if err := r.healCustomer(ctx, c, now, rep); err != nil {
			rep.Failures++
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) healCustomer(ctx context.Context, c Candidate, now time.Time, rep *Report) error {
	subs, err := r.stripe.CustomerSubscriptions(ctx, c.CustomerID)
	if err != nil {
		return fmt.Errorf("reconcile: list subscriptions of org %s: %w", c.OrgID, err)
	}
	rep.Subscriptions += len(subs)
	var errs []error
	for _, sub := range subs {
		res, err := r.writer.ApplyStripeSubscription(ctx, sub, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile: subscription %s of org %s: %w", sub.ID, c.OrgID, err))
			continue
		}
		if res.Outcome == billing.OutcomeApplied {
			r.fixed(ctx, rep, FixSubscription, res.OrgID, c.Reason, "subscription_id", sub.ID, "status", string(sub.Status))
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) prune(ctx context.Context, now time.Time, rep *Report) error {
	n, err := r.store.PruneEvents(ctx, now.Add(-r.opts.Retention))
	if err != nil {
		rep.Failures++
		return fmt.Errorf("reconcile: prune events: %w", err)
	}
	rep.Pruned = n
	return nil
}

func (r *Reconciler) fixed(ctx context.Context, rep *Report, kind, orgID, reason string, attrs ...any) {
	rep.Fixes[kind]++
	r.log.InfoContext(ctx, "reconcile fixed an organization's state",
		append([]any{"fix", kind, "org_id", orgID, "reason", reason}, attrs...)...)
}
