DROP INDEX messages_by_channel_ref;
ALTER TABLE messages DROP COLUMN content_digest;
CREATE UNIQUE INDEX messages_by_channel_ref ON messages (channel, channel_ref);
