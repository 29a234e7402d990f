-- Service levels. See docs/sla.md for what each clock measures.

-- Business hours. A schedule's definition lives in its versions: an edit adds a version
-- valid from the edit on, so time already measured is never counted again differently.
CREATE TABLE schedules (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE schedule_versions (
    schedule_id TEXT NOT NULL REFERENCES schedules (id),
    version     INTEGER NOT NULL,
    valid_from  TIMESTAMP NOT NULL,
    -- JSON: {"time_zone", "hours": {"monday": [{"start", "end"}], …}, "holidays"}.
    definition  TEXT NOT NULL,
    PRIMARY KEY (schedule_id, version)
);

-- Policies, tried in (position, created_at) order; the first that covers a ticket applies.
CREATE TABLE sla_policies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    enabled     BOOLEAN NOT NULL,
    -- JSON: {"priorities", "channels", "teams", "tags"}.
    conditions  TEXT NOT NULL,
    schedule_id TEXT REFERENCES schedules (id),
    -- JSON: {"first_reply" | "next_reply" | "resolution": {"minutes", "hours", "pause_on"}}.
    targets     TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE INDEX sla_policies_in_order ON sla_policies (position, created_at);

-- Every status a ticket took, and when: the history clocks are derived from.
CREATE TABLE ticket_statuses (
    seq        INTEGER PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    status     TEXT NOT NULL,
    at         TIMESTAMP NOT NULL
);

CREATE INDEX ticket_statuses_by_ticket ON ticket_statuses (ticket_id, at);

-- Tickets from before this history began: opened when created, then as they are now.
INSERT INTO ticket_statuses (ticket_id, status, at) SELECT id, 'open', created_at FROM tickets;
INSERT INTO ticket_statuses (ticket_id, status, at)
    SELECT id, status, COALESCE(solved_at, updated_at) FROM tickets WHERE status <> 'open';

-- A ticket's service level as last computed: the policy applied (as it was then), why,
-- its clocks, and the breaches already announced (each once).
CREATE TABLE ticket_slas (
    ticket_id   TEXT PRIMARY KEY REFERENCES tickets (id),
    -- NULL: no policy covers the ticket (any more); its breaches stay recorded.
    policy_id   TEXT,
    policy      TEXT,
    choice      TEXT NOT NULL,
    clocks      TEXT NOT NULL,
    breaches    TEXT NOT NULL,
    computed_at TIMESTAMP NOT NULL
);

-- The soonest a running clock reaches its target: lists sort by it.
ALTER TABLE tickets ADD COLUMN sla_due_at TIMESTAMP;
CREATE INDEX tickets_by_sla_due ON tickets (sla_due_at, id) WHERE sla_due_at IS NOT NULL;

-- Timers: work that falls due at an instant (an SLA target being reached), one row per
-- (kind, subject). Workers on every node lease due rows; exactly one takes each.
CREATE TABLE due_jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    due_at       TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    attempts     INTEGER NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    UNIQUE (kind, subject)
);

CREATE INDEX due_jobs_by_due ON due_jobs (due_at);
