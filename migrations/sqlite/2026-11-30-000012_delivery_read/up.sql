-- Runs outside diesel's transaction (metadata.toml): rebuilding `messages` to widen a
-- CHECK needs foreign keys off, which SQLite only allows between transactions. It is one
-- transaction of its own, and runs again cleanly if it committed but was not recorded.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE IF EXISTS messages_new;

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
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages (thread_id, created_at, id);
CREATE INDEX IF NOT EXISTS messages_by_ticket ON messages (ticket_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_channel_ref ON messages (channel, channel_ref, content_digest);

COMMIT;
PRAGMA foreign_keys = ON;
