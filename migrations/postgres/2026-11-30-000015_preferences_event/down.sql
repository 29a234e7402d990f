UPDATE webhook_endpoints
SET events = REPLACE(events, ',"customer.preferences_updated"', '')
WHERE events LIKE '%"customer.updated","customer.preferences_updated"%';
