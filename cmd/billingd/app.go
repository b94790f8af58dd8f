package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/jobs"
	"github.com/billingd/billingd/internal/store"
)

// What serve and the one-shot commands build alike from one configuration.

// openStore opens the database and applies billingd's migrations and River's
// (the job queue's tables live beside billingd's).
func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Database, store.Options{Timeout: cfg.DBTimeout})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := jobs.Migrate(ctx, st.WriterDB(), st.Dialect()); err != nil {
		return nil, errors.Join(fmt.Errorf("open database: %w", err), st.Close())
	}
	return st, nil
}

// newService is billingd's use cases as the configuration asks for them.
func newService(cfg config.Config, st billing.Store, payments billing.Payments, notifier billing.Notifier, logger *slog.Logger) *billing.Service {
	return billing.NewService(st, payments, notifier, billing.Options{
		Catalog: cfg.Catalog, Access: billing.Access{PastDueAccess: cfg.PastDueAccess}, AutomaticTax: cfg.AutomaticTax,
		DefaultSuccessURL: cfg.DefaultSuccessURL(), DefaultCancelURL: cfg.DefaultCancelURL(),
		RedirectAllowed: cfg.RedirectAllowed, Logger: logger,
	})
}
