-- Follow-ups: snoozed tickets, reminders for agents, and teams' rules for pending tickets.

-- A snoozed ticket leaves the default list until `snoozed_until` (its timer wakes it).
ALTER TABLE tickets ADD COLUMN snoozed_until TIMESTAMP;
ALTER TABLE tickets ADD COLUMN snooze_wakes_on_reply BOOLEAN NOT NULL DEFAULT FALSE;
-- Something waits on the customer's next message (a snooze that wakes, a reminder that is
-- cancelled): placement reads it from the update it makes anyway, so a ticket without
-- any costs no query.
ALTER TABLE tickets ADD COLUMN follow_ups_on_reply BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE reminders (
    id              TEXT PRIMARY KEY,
    ticket_id       TEXT NOT NULL REFERENCES tickets (id),
    -- Whom it reminds.
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    created_by      TEXT REFERENCES agents (id),
    due_at          TIMESTAMP NOT NULL,
    note            TEXT NOT NULL,
    cancel_on_reply BOOLEAN NOT NULL,
    -- pending, fired or cancelled.
    state           TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

CREATE INDEX reminders_by_ticket ON reminders (ticket_id, created_at);
CREATE INDEX reminders_by_agent ON reminders (agent_id, state, due_at);

-- JSON: {"remind_after_days", "solve_after_days", "schedule_id", "reminder_text"}.
ALTER TABLE teams ADD COLUMN pending_rule TEXT;
