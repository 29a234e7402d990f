-- Satisfaction surveys: one per solve of a ticket, sent after a delay on the ticket's own
-- channel, rated through a signed link while its window is open.

CREATE TABLE surveys (
    id                  TEXT PRIMARY KEY,
    ticket_id           TEXT NOT NULL REFERENCES tickets (id),
    -- The customer the link was made for (a later merge keeps the link good).
    customer_id         TEXT NOT NULL,
    -- Which solve of the ticket it asks about: 1 for the first.
    cycle               INTEGER NOT NULL,
    -- scheduled, sent or cancelled (the ticket reopened before it went out).
    state               TEXT NOT NULL,
    send_at             TIMESTAMP NOT NULL,
    sent_at             TIMESTAMP,
    -- After this the rating is locked.
    expires_at          TIMESTAMP,
    message_id          TEXT,
    -- Who and which team the rating is about: as they were at the solve.
    assignee_id         TEXT,
    team_id             TEXT,
    rating              TEXT,
    comment             TEXT,
    first_rated_at      TIMESTAMP,
    rated_at            TIMESTAMP,
    -- When a bad rating reopened the ticket or opened a follow-up (once per survey).
    loop_closed_at      TIMESTAMP,
    follow_up_ticket_id TEXT,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (ticket_id, cycle)
);

CREATE INDEX surveys_by_assignee ON surveys (assignee_id, rated_at);
CREATE INDEX surveys_by_team ON surveys (team_id, rated_at);

-- Installation-wide settings by name, each a JSON document.
CREATE TABLE settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
