-- +goose Up
-- When Stripe will cancel a subscription scheduled with cancel_at; NULL when
-- none is scheduled (also for every row written before this column existed).
ALTER TABLE subscriptions ADD COLUMN cancel_at timestamptz;
ALTER TABLE entitlements ADD COLUMN cancel_at timestamptz;

-- +goose Down
ALTER TABLE entitlements DROP COLUMN cancel_at;
ALTER TABLE subscriptions DROP COLUMN cancel_at;
