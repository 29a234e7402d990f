ALTER TABLE connectors DROP COLUMN previous_secret_until;
ALTER TABLE connectors DROP COLUMN previous_secret;
