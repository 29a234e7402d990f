-- Customers as people: merges that can be undone, trust that says how it was earned,
-- suggestions instead of silent merges, and the context an agent reads before answering.

-- A merged customer stays as a tombstone naming the customer it went into; its thread is
-- marked too, so a placement that found the thread before the merge committed sees the
-- mark, loses the race and is placed again, in the target's thread.
-- (SQLite cannot drop a column that is a foreign key, so here they are plain columns.)
ALTER TABLE customers ADD COLUMN merged_into TEXT;
-- Bumped by every merge and undo that moves rows to or from the customer: placement reads
-- it with the sender's identity and locks the thread only if it is unchanged, so an
-- identity moved meanwhile is found again, not placed on its old customer.
ALTER TABLE threads ADD COLUMN moves BIGINT NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN merged_into TEXT;
-- Language, time zone and preferred channel as agents set them, each {value, source,
-- updated_at}; what the customer's messages say is learnt on the thread row, which
-- placement updates anyway (no extra write per message).
ALTER TABLE customers ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';
ALTER TABLE threads ADD COLUMN inbound_channel TEXT;
ALTER TABLE threads ADD COLUMN inbound_language TEXT;
ALTER TABLE threads ADD COLUMN inbound_utc_offset TEXT;

-- How an identity's trust was earned: email_round_trip, signed_token, agent, connector,
-- form, imported, or sender (the address a message came from, unproven).
ALTER TABLE identities ADD COLUMN trust_source TEXT NOT NULL DEFAULT 'imported';
ALTER TABLE identities ADD COLUMN trust_changed_at TIMESTAMP;

-- The identity an inbound message came from (an undo sends later messages back with their
-- identity), and the address an outbound email went to (a reply from it proves the address).
ALTER TABLE messages ADD COLUMN identity_id TEXT;
ALTER TABLE messages ADD COLUMN sent_to TEXT;

CREATE TABLE merges (
    id               TEXT PRIMARY KEY,
    target_id        TEXT NOT NULL REFERENCES customers (id),
    source_id        TEXT NOT NULL REFERENCES customers (id),
    -- Who merged: `agent:<id>`, `api_key:<id>` or `system`.
    actor            TEXT NOT NULL,
    -- Why: `agent`, `suggestion` or `verified_link`.
    reason           TEXT NOT NULL,
    -- The target's fields the merge changed, [{field, before, after}], and both customers'
    -- `updated_at` before it: what an undo puts back.
    fields           TEXT NOT NULL,
    target_updated_at TIMESTAMP NOT NULL,
    source_updated_at TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    undone_at        TIMESTAMP,
    undone_by        TEXT,
    -- What the undo did: what went back and which tickets stayed for review.
    undo_report      TEXT
);
CREATE INDEX merges_by_target ON merges (target_id, created_at);
CREATE INDEX merges_by_source ON merges (source_id, created_at);

-- Exactly what a merge moved, row by row.
CREATE TABLE merge_moves (
    merge_id TEXT NOT NULL REFERENCES merges (id),
    kind     TEXT NOT NULL CHECK (kind IN ('identity', 'ticket', 'message', 'note')),
    item_id  TEXT NOT NULL,
    PRIMARY KEY (merge_id, kind, item_id)
);

-- A claimed identity that another customer holds: agents decide, nothing merges by itself.
CREATE TABLE merge_suggestions (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers (id),
    other_customer_id TEXT NOT NULL REFERENCES customers (id),
    kind              TEXT NOT NULL,
    value             TEXT NOT NULL,
    evidence          TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'dismissed')),
    created_at        TIMESTAMP NOT NULL,
    decided_at        TIMESTAMP,
    decided_by        TEXT,
    merge_id          TEXT REFERENCES merges (id)
);
-- The same claim twice is one open suggestion.
CREATE UNIQUE INDEX merge_suggestions_open_once
    ON merge_suggestions (customer_id, other_customer_id, kind, value) WHERE state = 'open';
CREATE INDEX merge_suggestions_by_state ON merge_suggestions (state, created_at DESC, id DESC);

-- Custom attributes: admins define them, values are checked against the definition.
CREATE TABLE attribute_definitions (
    key         TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text', 'number', 'boolean', 'date', 'list')),
    -- For `list`: the JSON array of allowed values.
    options     TEXT,
    description TEXT,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE TABLE customer_attributes (
    customer_id TEXT NOT NULL REFERENCES customers (id),
    key         TEXT NOT NULL REFERENCES attribute_definitions (key),
    -- JSON, of the definition's kind.
    value       TEXT NOT NULL,
    source      TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (customer_id, key)
);
CREATE INDEX customer_attributes_by_key ON customer_attributes (key);

-- Notes about a customer (not about a ticket).
CREATE TABLE customer_notes (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    author_agent_id TEXT REFERENCES agents (id),
    body            TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX customer_notes_by_customer ON customer_notes (customer_id, created_at DESC, id DESC);

-- The context endpoint reads a customer's latest tickets and counts them by channel from
-- one index (no table rows), and their open tickets, most recently active first, without a
-- sort (the predicate is written the same way in `customers::context`).
CREATE INDEX tickets_by_customer_created ON tickets (customer_id, created_at DESC, id DESC, channel);
CREATE INDEX tickets_open_by_customer ON tickets (customer_id, updated_at DESC, id DESC)
    WHERE status IN ('open', 'pending', 'on_hold');
