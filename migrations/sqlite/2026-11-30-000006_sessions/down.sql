DROP INDEX login_failures_by_email;
ALTER TABLE login_failures DROP COLUMN address;
CREATE INDEX login_failures_by_email ON login_failures (email, at);
ALTER TABLE agents DROP COLUMN tokens_not_before;
DROP TABLE sessions;
