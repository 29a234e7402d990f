-- A session is one sign-in: the refresh-token family it starts shares its id, and every
-- access token of it carries that id (`sid`). Ending the session (logout, a reused refresh
-- token, a password change, deactivation) refuses its access tokens at once.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    created_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP
);
CREATE INDEX sessions_by_agent ON sessions (agent_id);
-- Sign-ins made before sessions existed: a family with any revoked token has ended.
INSERT INTO sessions (id, agent_id, created_at, ended_at)
SELECT family_id, MIN(agent_id), MIN(created_at), MAX(revoked_at) FROM refresh_tokens GROUP BY family_id;

-- Access tokens issued before this moment are refused (set on a password change and on
-- deactivation), even if their session was somehow left open.
ALTER TABLE agents ADD COLUMN tokens_not_before TIMESTAMP;

-- Failed sign-ins are counted per (email, client address): a stranger's guesses lock out
-- the stranger, not the owner signing in from their own address.
ALTER TABLE login_failures ADD COLUMN address TEXT NOT NULL DEFAULT '';
DROP INDEX login_failures_by_email;
CREATE INDEX login_failures_by_email ON login_failures (email, address, at);
