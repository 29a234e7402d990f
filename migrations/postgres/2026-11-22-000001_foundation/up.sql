-- The foundation: people, conversations, the event log and the outbox.
-- Ids are UUID v7 as text and times are UTC `timestamp`, so one diesel schema serves
-- PostgreSQL and SQLite alike.

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE customers (
    id         TEXT PRIMARY KEY,
    name       TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- (kind, value) is unique: two concurrent first messages of one sender cannot both
-- create a customer; the loser retries and finds the winner's.
CREATE TABLE identities (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    trust       TEXT NOT NULL CHECK (trust IN ('verified', 'claimed')),
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX identities_by_customer ON identities (customer_id);

-- One thread per customer. Placement locks this row, which serialises concurrent
-- placements for one customer without blocking anyone else.
CREATE TABLE threads (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL UNIQUE REFERENCES customers (id),
    created_at      TIMESTAMP NOT NULL,
    last_message_at TIMESTAMP
);

CREATE SEQUENCE ticket_numbers START 1000;

CREATE TABLE tickets (
    id          TEXT PRIMARY KEY,
    number      BIGINT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    subject     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'pending', 'on_hold', 'solved', 'closed')),
    priority    TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    channel     TEXT NOT NULL,
    assignee_id TEXT REFERENCES agents (id),
    team_id     TEXT REFERENCES teams (id),
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    solved_at   TIMESTAMP
);
-- Keyset lists: newest activity first, id breaks ties.
CREATE INDEX tickets_by_customer ON tickets (customer_id, status, updated_at DESC, id DESC);
CREATE INDEX tickets_by_status ON tickets (status, updated_at DESC, id DESC);
CREATE INDEX tickets_by_assignee ON tickets (assignee_id, status, updated_at DESC, id DESC);
CREATE INDEX tickets_by_team ON tickets (team_id, status, updated_at DESC, id DESC);
CREATE INDEX tickets_by_updated ON tickets (updated_at DESC, id DESC);

CREATE TABLE ticket_tags (
    ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_by_tag ON ticket_tags (tag, ticket_id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    thread_id       TEXT NOT NULL REFERENCES threads (id),
    ticket_id       TEXT REFERENCES tickets (id),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'chat', 'web_form', 'api')),
    direction       TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'note')),
    author_kind     TEXT NOT NULL CHECK (author_kind IN ('customer', 'agent', 'system')),
    author_agent_id TEXT REFERENCES agents (id),
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    channel_ref     TEXT,
    delivery_state  TEXT CHECK (delivery_state IN ('queued', 'sent', 'delivered', 'failed')),
    placement       TEXT NOT NULL DEFAULT '[]',
    details         TEXT NOT NULL DEFAULT '{}',
    created_at      TIMESTAMP NOT NULL
);
-- A provider's retry must never make a second message. NULL references (notes,
-- agent replies before sending) are distinct and never collide.
CREATE UNIQUE INDEX messages_by_channel_ref ON messages (channel, channel_ref);
CREATE INDEX messages_by_thread ON messages (thread_id, created_at, id);
CREATE INDEX messages_by_ticket ON messages (ticket_id, created_at, id);

-- Every change, in commit order. Writers take an advisory lock right before inserting
-- here (see braid-db's events.rs), so a reader that has seen sequence N will never later
-- find a committed N-1: the live stream and the sync feed can resume without gaps.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    customer_id TEXT,
    ticket_id   TEXT,
    payload     TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id),
    channel         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_message ON outbox (message_id);
