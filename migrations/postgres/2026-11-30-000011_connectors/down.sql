ALTER TABLE api_keys DROP COLUMN connector_id;
DROP TABLE connector_refs;
DROP TABLE connectors;
