-- Runs outside diesel's transaction (metadata.toml): rebuilding `messages` to widen a
-- CHECK needs foreign keys off, which SQLite only allows between transactions. The
-- migration is still one transaction of its own.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- Connectors: integrations that bring their own channel. Each acts through its own API
-- keys (api_keys.connector_id) and is known to its customers by `external:<name>`.
CREATE TABLE connectors (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    -- Where agents' replies are POSTed; NULL: replies wait in the outbox.
    callback_url TEXT,
    -- Whether the emails and phones it gives are verified (else claimed).
    trusted      BOOLEAN NOT NULL,
    -- Signs callbacks as webhooks are signed (`whsec_…`).
    secret       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- What a connector's own ids name: its tickets (`ticket`, fixed once made) and its
-- conversations (`conversation`, following the ticket the latest message went to).
CREATE TABLE connector_refs (
    connector_id TEXT NOT NULL REFERENCES connectors (id),
    kind         TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    ticket_id    TEXT NOT NULL REFERENCES tickets (id),
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (connector_id, kind, external_id)
);
CREATE INDEX connector_refs_by_ticket ON connector_refs (ticket_id, kind);

-- A key with a connector acts only as that connector.
ALTER TABLE api_keys ADD COLUMN connector_id TEXT REFERENCES connectors (id);

-- A connector reports when its recipient read a reply. SQLite cannot alter a CHECK: the
-- table is rebuilt with the same columns, rows and indexes.
CREATE TABLE messages_new (
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
    delivery_state  TEXT CHECK (delivery_state IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    placement       TEXT NOT NULL DEFAULT '[]',
    details         TEXT NOT NULL DEFAULT '{}',
    created_at      TIMESTAMP NOT NULL,
    original        BLOB,
    original_type   TEXT,
    content_digest  TEXT,
    identity_id     TEXT,
    sent_to         TEXT,
    sent_via        TEXT
);
INSERT INTO messages_new (id, thread_id, ticket_id, channel, direction, author_kind, author_agent_id, body_text,
    body_html, channel_ref, delivery_state, placement, details, created_at, original, original_type,
    content_digest, identity_id, sent_to, sent_via)
SELECT id, thread_id, ticket_id, channel, direction, author_kind, author_agent_id, body_text, body_html,
    channel_ref, delivery_state, placement, details, created_at, original, original_type, content_digest,
    identity_id, sent_to, sent_via
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_by_thread ON messages (thread_id, created_at, id);
CREATE INDEX messages_by_ticket ON messages (ticket_id, created_at, id);
CREATE UNIQUE INDEX messages_by_channel_ref ON messages (channel, channel_ref, content_digest);

COMMIT;
PRAGMA foreign_keys = ON;
