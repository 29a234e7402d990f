ALTER TABLE teams DROP COLUMN pending_rule;
DROP TABLE reminders;
ALTER TABLE tickets DROP COLUMN follow_ups_on_reply;
ALTER TABLE tickets DROP COLUMN snooze_wakes_on_reply;
ALTER TABLE tickets DROP COLUMN snoozed_until;
