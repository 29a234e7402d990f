DROP INDEX events_by_position;
ALTER TABLE events DROP COLUMN tx;
