-- SQLite twin of migrations/postgres: keep the two in step.
-- What the REST API needs: sessions, API keys, idempotent POSTs, login throttling,
-- and indexes for the lists it serves.

-- Secrets Braid generates for itself (the JWT signing key when none is configured), so
-- every node sharing the database signs and verifies alike.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Refresh tokens rotate: each use marks the token used and issues the next one in its
-- family. A used token presented again means it was stolen; the whole family is revoked.
CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_agent ON refresh_tokens (agent_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_by   TEXT REFERENCES agents (id),
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);

-- One row per (caller, Idempotency-Key): the request's hash and, once answered, the
-- response to replay.
CREATE TABLE idempotency_keys (
    principal     TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER,
    response_body TEXT,
    -- The response headers worth replaying (content-type, location, etag), as JSON.
    response_headers TEXT,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE TABLE login_failures (
    id     TEXT PRIMARY KEY,
    email  TEXT NOT NULL,
    at     TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_by_email ON login_failures (email, at);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams (id),
    agent_id TEXT NOT NULL REFERENCES agents (id),
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_by_agent ON team_members (agent_id);

CREATE INDEX customers_by_created ON customers (created_at DESC, id DESC);

-- The name case-folded by Braid (Unicode-aware, unlike SQLite's lower()), for prefix search.
ALTER TABLE customers ADD COLUMN name_key TEXT;
CREATE INDEX customers_by_name_key ON customers (name_key);
CREATE INDEX identities_by_value ON identities (value);
CREATE INDEX tickets_by_created ON tickets (created_at DESC, id DESC);
CREATE INDEX agents_by_created ON agents (created_at, id);
CREATE INDEX teams_by_created ON teams (created_at, id);
