-- Macros: typed actions an agent applies to a ticket in one step. A canned response is a
-- macro with only a reply.

CREATE TABLE macros (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    -- The name lower-cased, for `?q=` on either backend alike.
    folded_name     TEXT NOT NULL,
    description     TEXT,
    -- NULL: shared with every agent; else the only agent who sees it.
    owner_agent_id  TEXT REFERENCES agents (id),
    -- JSON: the typed actions, templates as written.
    actions         TEXT NOT NULL,
    -- A reply and nothing else: listed apart as a canned response.
    canned_response BOOLEAN NOT NULL,
    created_by      TEXT REFERENCES agents (id),
    version         BIGINT NOT NULL,
    applied_count   BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

-- The list an agent sees: the shared ones and their own, by name.
CREATE INDEX macros_by_owner_name ON macros (owner_agent_id, name, id);
