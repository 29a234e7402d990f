-- Events are read in (tx, seq) order on both backends. SQLite has one writer at a time,
-- so seq alone is commit order and tx stays 0.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
CREATE INDEX events_by_position ON events (tx, seq);

-- The message exactly as its channel delivered it, written in the placement's own
-- transaction (see the PostgreSQL migration).
ALTER TABLE messages ADD COLUMN original BLOB;
ALTER TABLE messages ADD COLUMN original_type TEXT;
