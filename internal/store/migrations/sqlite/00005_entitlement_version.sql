-- +goose Up
-- Counts the changes of an org's entitlement (billing.Entitlement.Version);
-- rows written before this column existed start at 0.
ALTER TABLE entitlements ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE entitlements DROP COLUMN version;
