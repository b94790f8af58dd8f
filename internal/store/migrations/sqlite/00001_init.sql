-- +goose Up
-- Times are DATETIME text written by the store in UTC ("2006-01-02 15:04:05.999999-07:00"),
-- so they compare and sort correctly as strings.
CREATE TABLE organizations (
    id                 TEXT NOT NULL PRIMARY KEY,
    billing_email      TEXT NOT NULL DEFAULT '',
    stripe_customer_id TEXT UNIQUE,
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL
);

CREATE TABLE entitlements (
    org_id               TEXT NOT NULL PRIMARY KEY,
    plan                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    subscription_id      TEXT NOT NULL DEFAULT '',
    price_id             TEXT NOT NULL DEFAULT '',
    "interval"           TEXT NOT NULL DEFAULT '',
    seats                INTEGER NOT NULL DEFAULT 0,
    trial_end            DATETIME,
    current_period_end   DATETIME,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
    event_created        DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);

CREATE TABLE subscriptions (
    id                   TEXT NOT NULL PRIMARY KEY,
    org_id               TEXT NOT NULL,
    customer_id          TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    plan                 TEXT NOT NULL DEFAULT '',
    price_id             TEXT NOT NULL DEFAULT '',
    lookup_key           TEXT NOT NULL DEFAULT '',
    "interval"           TEXT NOT NULL DEFAULT '',
    quantity             INTEGER NOT NULL DEFAULT 0,
    trial_end            DATETIME,
    current_period_end   DATETIME,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
    event_created        DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
CREATE INDEX subscriptions_org_id_idx ON subscriptions (org_id);

CREATE TABLE checkout_sessions (
    id              TEXT NOT NULL PRIMARY KEY,
    org_id          TEXT NOT NULL,
    plan            TEXT NOT NULL DEFAULT '',
    "interval"      TEXT NOT NULL DEFAULT '',
    price_id        TEXT NOT NULL DEFAULT '',
    quantity        INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,
    url             TEXT NOT NULL DEFAULT '',
    expires_at      DATETIME NOT NULL,
    subscription_id TEXT NOT NULL DEFAULT '',
    customer_id     TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL DEFAULT '',
    request_hash    TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX checkout_sessions_org_id_created_at_idx ON checkout_sessions (org_id, created_at);

CREATE TABLE stripe_events (
    id          TEXT NOT NULL PRIMARY KEY,
    type        TEXT NOT NULL,
    created     DATETIME NOT NULL,
    received_at DATETIME NOT NULL,
    org_id      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL
);

CREATE TABLE payments (
    invoice_id         TEXT NOT NULL PRIMARY KEY,
    org_id             TEXT NOT NULL,
    subscription_id    TEXT NOT NULL DEFAULT '',
    amount_due         INTEGER NOT NULL,
    amount_paid        INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,
    hosted_invoice_url TEXT NOT NULL DEFAULT '',
    event_created      DATETIME NOT NULL,
    created_at         DATETIME NOT NULL
);
CREATE INDEX payments_org_id_idx ON payments (org_id);

CREATE TABLE idempotency_keys (
    org_id       TEXT NOT NULL,
    "key"        TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
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
