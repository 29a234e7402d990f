-- The event log no longer makes every writer wait for one lock held through COMMIT
-- (which serialised all placements and kept commits from sharing a WAL flush). Each row
-- now records the transaction that wrote it. A reader takes only rows of transactions
-- older than every transaction still running, in (tx, seq) order: that prefix of the
-- log is final, so a reader that has seen position P never later finds an earlier one.
-- Existing rows all take this migration's transaction id and keep their seq order.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX events_by_position ON events (tx, seq);

-- The message exactly as its channel delivered it (an email's RFC 5322 bytes), written in
-- the placement's own transaction: one commit makes both durable, with no file to create
-- and sync per message. Attachments stay in the content-addressed blob store.
ALTER TABLE messages ADD COLUMN original BYTEA;
ALTER TABLE messages ADD COLUMN original_type TEXT;

-- Message bodies, originals and event payloads are compressed with lz4 where the server has it:
-- pglz, the default, was the most expensive part of storing an email.
DO $$
BEGIN
    ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN body_text SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN body_html SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN details SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN original SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; columns keep the default compression';
END
$$;
