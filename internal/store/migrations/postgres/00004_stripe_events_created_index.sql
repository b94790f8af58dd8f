-- +goose Up
-- Reconcile prunes event receipts by Stripe's created time.
CREATE INDEX stripe_events_created_idx ON stripe_events (created);

-- +goose Down
DROP INDEX stripe_events_created_idx;
