-- The chat channel: sites that embed the widget, the visitors they send, and what the
-- live stream and the chat-to-email fallback need.

-- A website that embeds the widget. `site_key` is public (it is in the page); the identity
-- secrets (chat_site_secrets) sign the tokens the site's own backend gives its users.
CREATE TABLE chat_sites (
    id                      TEXT PRIMARY KEY,
    site_key                TEXT NOT NULL UNIQUE,
    name                    TEXT NOT NULL,
    -- Names the site's identities: a signed user is `external:<slug>`.
    slug                    TEXT NOT NULL UNIQUE,
    -- JSON array of origins (`https://shop.example`) allowed to call the widget API.
    allowed_origins         TEXT NOT NULL,
    -- Every visitor must present an identity token.
    strict                  BOOLEAN NOT NULL,
    -- The longest identity-token lifetime accepted (`exp` - `iat`).
    max_identity_token_secs BIGINT NOT NULL,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL
);

-- HS256 secrets by key id: a site rotates by adding a secret, then deleting the old one.
CREATE TABLE chat_site_secrets (
    site_id    TEXT NOT NULL REFERENCES chat_sites (id),
    kid        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (site_id, kid)
);

-- One browser's visitor on one site. It writes as an identity: `chat_visitor:<id>` when
-- anonymous, `external:<slug>:<sub>` once a signed token named the user; the customer is
-- whoever holds that identity now (merges move identities, so it is never stored here).
CREATE TABLE chat_visitors (
    id             TEXT PRIMARY KEY,
    site_id        TEXT NOT NULL REFERENCES chat_sites (id),
    identity_kind  TEXT NOT NULL,
    identity_value TEXT NOT NULL,
    verified       BOOLEAN NOT NULL,
    -- A socket of this visitor is open somewhere until then (refreshed while it is):
    -- the chat-to-email fallback waits while the visitor is online.
    online_until   TIMESTAMP,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX chat_visitors_by_identity ON chat_visitors (identity_kind, identity_value);

-- A visitor reading from a position reads its customer's events only.
CREATE INDEX events_by_customer ON events (customer_id, tx, seq);

-- The chat replies one fallback email carries (JSON array of message ids), on that email's
-- outbox entry; and the channel an outbound message really went out on, when not its own.
ALTER TABLE outbox ADD COLUMN bundle TEXT;
ALTER TABLE messages ADD COLUMN sent_via TEXT;
