DROP TABLE ticket_routings;
DROP TABLE agent_presence;
ALTER TABLE teams DROP COLUMN last_routed_agent_id;
ALTER TABLE teams DROP COLUMN routing;
