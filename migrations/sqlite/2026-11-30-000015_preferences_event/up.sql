-- Preferences changes became their own event kind (`customer.preferences_updated`); an
-- endpoint that asked for `customer.updated` by name got them before, and keeps getting
-- them. (`events` is the endpoint's JSON list of selectors.)
UPDATE webhook_endpoints
SET events = REPLACE(events, '"customer.updated"', '"customer.updated","customer.preferences_updated"')
WHERE events LIKE '%"customer.updated"%' AND events NOT LIKE '%"customer.preferences_updated"%';
