ALTER TABLE messages DROP COLUMN sent_via;
ALTER TABLE outbox DROP COLUMN bundle;
DROP INDEX events_by_customer;
DROP TABLE chat_visitors;
DROP TABLE chat_site_secrets;
DROP TABLE chat_sites;
