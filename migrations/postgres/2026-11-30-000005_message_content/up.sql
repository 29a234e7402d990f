-- A message is deduplicated on its channel reference AND its content: real senders reuse
-- one Message-ID for different messages, and those must not be swallowed as repeats.
-- `content_digest` is the SHA-256 of what defines an inbound message (sender, date,
-- subject, body text, attachment hashes; not transport headers). Rows stored before it
-- existed have NULL and are taken as the same content as any repeat of their reference.
ALTER TABLE messages ADD COLUMN content_digest TEXT;
DROP INDEX messages_by_channel_ref;
CREATE UNIQUE INDEX messages_by_channel_ref ON messages (channel, channel_ref, content_digest);
