-- Outbound webhooks: endpoints that follow the event log, their signing secrets, and the
-- durable queue of deliveries with every attempt logged.

-- An endpoint follows the log from its own position (cursor_tx, cursor_seq): the
-- dispatcher turns the events after it into deliveries and moves it, in one transaction.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    -- JSON array of selectors: kinds, families (`message.*`) or `*`.
    events          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    -- `by_hand`, `gone` (answered 410) or `failing` (no success for days).
    disabled_reason TEXT,
    -- Since when every attempt failed; NULL after a success.
    failing_since   TIMESTAMP,
    cursor_tx       BIGINT NOT NULL,
    cursor_seq      BIGINT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_by_age ON webhook_endpoints (created_at, id);

-- Secrets sign (HMAC-SHA256) so they are kept as given. During a rotation the old ones
-- sign too, until expires_at.
CREATE TABLE webhook_secrets (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    secret      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP
);
CREATE INDEX webhook_secrets_by_endpoint ON webhook_secrets (endpoint_id);

-- One event for one endpoint. The id is the `webhook-id`, the same on every attempt; an
-- event becomes at most one delivery per endpoint.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_tx        BIGINT NOT NULL,
    event_seq       BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    -- The JSON body, rendered when queued: what the event said then.
    body            TEXT NOT NULL,
    -- pending | delivered | failed
    state           TEXT NOT NULL,
    -- Attempts in this round (a redelivery starts a new one).
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_status     INTEGER,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (endpoint_id, event_tx, event_seq)
);
-- What is due, per endpoint: the deliverer claims endpoint by endpoint.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at, id);
-- What /metrics counts, and what housekeeping purges.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE state <> 'pending';

CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt     INTEGER NOT NULL,
    at          TIMESTAMP NOT NULL,
    -- NULL when there was no answer (refused, timed out).
    status      INTEGER,
    latency_ms  BIGINT NOT NULL,
    error       TEXT,
    -- The first KiB of the answer's body.
    response    TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
