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

