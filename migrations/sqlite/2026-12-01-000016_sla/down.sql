DROP TABLE due_jobs;
DROP INDEX tickets_by_sla_due;
ALTER TABLE tickets DROP COLUMN sla_due_at;
DROP TABLE ticket_slas;
DROP TABLE ticket_statuses;
DROP TABLE sla_policies;
DROP TABLE schedule_versions;
DROP TABLE schedules;
