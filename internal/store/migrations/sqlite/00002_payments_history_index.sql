-- +goose Up
-- Serves the payment history: one org's payments newest first, paged by
-- (created_at, invoice_id). Its org_id prefix also serves what
-- payments_org_id_idx did, so that index goes.
CREATE INDEX payments_org_id_created_at_invoice_id_idx ON payments (org_id, created_at DESC, invoice_id DESC);
DROP INDEX payments_org_id_idx;

-- +goose Down
CREATE INDEX payments_org_id_idx ON payments (org_id);
DROP INDEX payments_org_id_created_at_invoice_id_idx;
