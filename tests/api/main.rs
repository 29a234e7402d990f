//! End-to-end tests: the real application on a free port over a fresh database, driven
//! over HTTP (and, for the storage guarantees, through the same pool the server uses).
//! Every test runs twice, on SQLite and on PostgreSQL; see `both_backends!`.

#![expect(clippy::unwrap_used, reason = "a test fails loudly at its first surprise")]

mod helpers;
mod hostile;

mod authorization;
mod binary;
mod bounded_work;
mod chat;
mod chat_nodes;
mod connectors;
mod conventions;
mod csat;
mod customer_attributes;
mod customer_context;
mod customer_merges;
mod customer_notes;
mod customer_preferences;
mod customer_trust;
mod customers;
mod email;
mod email_dedup;
mod email_replies;
mod email_senders;
mod email_side_effects;
mod event_payloads;
mod events_feed;
mod follow_ups;
mod forms;
mod input;
mod macros;
mod operations;
mod placement;
mod routing;
mod sessions;
mod sla;
mod smtp;
mod smtp_tls;
mod tickets;
mod webhooks;
