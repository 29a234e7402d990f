DROP INDEX events_by_position;
ALTER TABLE events DROP COLUMN tx;
ALTER TABLE events ALTER COLUMN payload SET COMPRESSION default;
ALTER TABLE messages ALTER COLUMN body_text SET COMPRESSION default;
ALTER TABLE messages ALTER COLUMN body_html SET COMPRESSION default;
ALTER TABLE messages ALTER COLUMN details SET COMPRESSION default;
ALTER TABLE messages DROP COLUMN original;
ALTER TABLE messages DROP COLUMN original_type;
