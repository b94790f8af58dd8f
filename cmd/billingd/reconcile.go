package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/jobs"
	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/reconcile"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/stripe"
)

// pruneInterval is how often event receipts past EVENT_RETENTION are pruned,
// whether or not reconcile runs periodically.
const pruneInterval = time.Hour

// reconcileCmd runs one reconcile with the same configuration as serve and
// prints what it did; it exits non-zero when any part failed.
func reconcileCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("billingd reconcile", flag.ContinueOnError)
	fs.SetOutput(stdout)
	since := fs.Duration("since", reconcile.DefaultSince, "list undelivered Stripe events created this far back (Stripe keeps events 30 days)")
	all := fs.Bool("all", false, "list the subscriptions of every organization with a Stripe Customer (a backfill), not only unfinished ones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("billingd reconcile: unexpected argument %q", fs.Arg(0))
	}
	if *since <= 0 || *since > 30*24*time.Hour {
		return fmt.Errorf("billingd reconcile: -since must be between 1s and 720h (Stripe keeps events 30 days), got %v", *since)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(stdout, cfg.LogLevel)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	notifier, closeNotifier, err := newNotifier(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeNotifier()
	payments := stripe.New(cfg.StripeSecretKey, stripe.Options{APIBase: cfg.StripeAPIBase, Logger: logger})
	svc := newService(cfg, st, payments, notifier, logger)
	// Its fixes enqueue messages like any other change; serving replicas deliver them.
	if _, err := newQueue(cfg, st, logger, nil, jobs.Work{}, false); err != nil {
		return err
	}
	rep, err := newReconciler(cfg, st, payments, svc, logger, nil).Run(ctx, reconcile.RunOptions{Since: *since, All: *all})
	fmt.Fprintf(stdout, "reconcile: %d undelivered events, %d organizations listed, %d subscriptions seen; fixed %d events and %d subscription states; pruned %d event ids; %d failures\n",
		rep.Events, rep.Orgs, rep.Subscriptions, rep.Fixes[reconcile.FixEvent], rep.Fixes[reconcile.FixSubscription], rep.Pruned, rep.Failures)
	if err != nil {
		return fmt.Errorf("billingd reconcile: %w", err)
	}
	return nil
}

// newReconciler is reconcile over billingd's adapters; telemetry may be nil.
func newReconciler(cfg config.Config, st *store.Store, payments *stripe.Client, svc *billing.Service, logger *slog.Logger, telemetry *metrics.Metrics) *reconcile.Reconciler {
	return reconcile.New(payments, st, svc, reconcile.Options{
		Retention: cfg.EventRetention, Logger: logger,
		Observe: func(rep reconcile.Report, err error) { telemetry.ObserveReconcile(rep.Fixes, rep.Pruned, err) },
	})
}

// periodicWork is what serve runs in the background on River: reconcile
// every RECONCILE_INTERVAL (unless off) and pruning; one replica at a time
// runs each.
func periodicWork(cfg config.Config, rec *reconcile.Reconciler) jobs.Work {
	return jobs.Work{
		Reconcile: func(ctx context.Context) error {
			_, err := rec.Run(ctx, reconcile.RunOptions{})
			return err
		},
		ReconcileInterval: cfg.ReconcileInterval,
		Prune:             rec.Prune,
		PruneInterval:     pruneInterval,
	}
}
