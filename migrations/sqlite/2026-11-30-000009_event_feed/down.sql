DROP TABLE event_log_pruned;
