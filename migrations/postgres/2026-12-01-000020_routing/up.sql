-- Routing: teams hand tickets to their online agents by turn or by load, agents' presence
-- with a lease, and every decision recorded with its reason.

-- JSON: {"mode", "capacity", "default_capacity", "offline_policy", "grace_minutes"}.
ALTER TABLE teams ADD COLUMN routing TEXT;
-- Whom the team's round robin served last.
ALTER TABLE teams ADD COLUMN last_routed_agent_id TEXT;

CREATE TABLE agent_presence (
    agent_id    TEXT PRIMARY KEY REFERENCES agents (id),
    -- online, away or offline, as the agent set it; a lapsed lease reads as away.
    status      TEXT NOT NULL,
    lease_until TIMESTAMP NOT NULL,
    changed_at  TIMESTAMP NOT NULL
);

CREATE TABLE ticket_routings (
    id                TEXT PRIMARY KEY,
    ticket_id         TEXT NOT NULL REFERENCES tickets (id),
    team_id           TEXT,
    -- Who took it; NULL when nobody could (the reason says why) or it went back to the queue.
    agent_id          TEXT,
    previous_agent_id TEXT,
    mode              TEXT NOT NULL,
    -- created, team_changed, reopened, agent_offline or agent_online.
    trigger           TEXT NOT NULL,
    reason            TEXT NOT NULL,
    at                TIMESTAMP NOT NULL
);

CREATE INDEX ticket_routings_by_ticket ON ticket_routings (ticket_id, at);
-- Loads and queues read the tickets' existing indexes (by assignee, by team).
