-- Webhook deliveries already seen, by provider and their own one-time token: a replayed
-- signed request (Mailgun's token) is refused even while its signature is still fresh.
CREATE TABLE webhook_replays (
    provider TEXT NOT NULL,
    token    TEXT NOT NULL,
    seen_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, token)
);
CREATE INDEX webhook_replays_by_age ON webhook_replays (seen_at);
