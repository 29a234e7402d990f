DROP INDEX events_by_position;
ALTER TABLE events DROP COLUMN tx;
ALTER TABLE messages DROP COLUMN original;
ALTER TABLE messages DROP COLUMN original_type;
