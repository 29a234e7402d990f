-- The sync feed (GET /v1/events): the log keeps events for a retention period, and a
-- reader whose cursor points into what was pruned must be told so, not given a gap.

-- The last position pruned (0.0: nothing yet). One row; the pruning worker moves it forward.
CREATE TABLE event_log_pruned (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    tx        BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    pruned_at TIMESTAMP NOT NULL
);
INSERT INTO event_log_pruned (id, tx, seq, pruned_at) VALUES (1, 0, 0, CURRENT_TIMESTAMP);
