-- A connector's signing secret rotates as a webhook's does: the one it replaced keeps
-- signing callbacks beside it until `previous_secret_until`.
ALTER TABLE connectors ADD COLUMN previous_secret TEXT;
ALTER TABLE connectors ADD COLUMN previous_secret_until TIMESTAMP;
