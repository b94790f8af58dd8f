-- +goose Up
CREATE TABLE organizations (
    id                 text PRIMARY KEY,
    billing_email      text NOT NULL DEFAULT '',
    stripe_customer_id text UNIQUE,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

CREATE TABLE entitlements (
    org_id               text PRIMARY KEY,
    plan                 text NOT NULL,
    status               text NOT NULL,
    subscription_id      text NOT NULL DEFAULT '',
    price_id             text NOT NULL DEFAULT '',
    "interval"           text NOT NULL DEFAULT '',
    seats                integer NOT NULL DEFAULT 0,
    trial_end            timestamptz,
    current_period_end   timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    event_created        timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

CREATE TABLE subscriptions (
    id                   text PRIMARY KEY,
    org_id               text NOT NULL,
    customer_id          text NOT NULL DEFAULT '',
    status               text NOT NULL,
    plan                 text NOT NULL DEFAULT '',
    price_id             text NOT NULL DEFAULT '',
    lookup_key           text NOT NULL DEFAULT '',
    "interval"           text NOT NULL DEFAULT '',
    quantity             integer NOT NULL DEFAULT 0,
    trial_end            timestamptz,
    current_period_end   timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    event_created        timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX subscriptions_org_id_idx ON subscriptions (org_id);

CREATE TABLE checkout_sessions (
    id              text PRIMARY KEY,
    org_id          text NOT NULL,
    plan            text NOT NULL DEFAULT '',
    "interval"      text NOT NULL DEFAULT '',
    price_id        text NOT NULL DEFAULT '',
    quantity        integer NOT NULL DEFAULT 0,
    status          text NOT NULL,
    url             text NOT NULL DEFAULT '',
    expires_at      timestamptz NOT NULL,
    subscription_id text NOT NULL DEFAULT '',
    customer_id     text NOT NULL DEFAULT '',
    created_by      text NOT NULL DEFAULT '',
    request_hash    text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX checkout_sessions_org_id_created_at_idx ON checkout_sessions (org_id, created_at);

CREATE TABLE stripe_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    created     timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    org_id      text NOT NULL DEFAULT '',
    outcome     text NOT NULL
);

CREATE TABLE payments (
    invoice_id         text PRIMARY KEY,
    org_id             text NOT NULL,
    subscription_id    text NOT NULL DEFAULT '',
    amount_due         bigint NOT NULL,
    amount_paid        bigint NOT NULL,
    currency           text NOT NULL,
    status             text NOT NULL,
    hosted_invoice_url text NOT NULL DEFAULT '',
    event_created      timestamptz NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX payments_org_id_idx ON payments (org_id);

CREATE TABLE idempotency_keys (
    org_id       text NOT NULL,
    "key"        text NOT NULL,
    request_hash text NOT NULL,
    session_id   text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, "key")
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE payments;
DROP TABLE stripe_events;
DROP TABLE checkout_sessions;
DROP TABLE subscriptions;
DROP TABLE entitlements;
DROP TABLE organizations;
