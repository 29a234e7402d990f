//! Braid's storage over PostgreSQL and SQLite. One diesel schema and one connection type
//! serve both; queries are plain functions taking `&mut DbConn`, grouped by resource.
//! SQL that differs between the two backends lives in [`dialect`] and nowhere else.
//!
//! Everything here is blocking. Async callers go through [`Db::run`], which moves the work
//! to tokio's blocking pool so a slow query never stalls the HTTP workers.

pub mod agents;
pub mod auth;
pub mod chat;
mod connection;
pub mod connectors;
pub mod csat;
pub mod customers;
pub mod dialect;
pub mod due_jobs;
mod error;
pub mod events;
pub mod follow_ups;
pub mod forms;
pub mod idempotency;
pub mod macros;
pub mod messages;
mod migrate;
pub mod outbox;
mod page;
pub mod placement;
pub mod routing;
pub mod schema;
pub mod settings;
pub mod sla;
pub mod teams;
pub mod tickets;
pub mod webhooks;

pub use connection::{Backend, ConnectionManager, Db, DbConn, PoolState, redact};
pub use error::DbError;
pub use page::{Cursor, Page};

use chrono::{DateTime, NaiveDateTime, Utc};

/// Times are stored as UTC `timestamp` with microsecond precision, which both backends
/// keep exactly, so a value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

pub fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    let micros = time.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(time)
}

pub(crate) fn to_db(time: DateTime<Utc>) -> NaiveDateTime {
    truncate_to_micros(time).naive_utc()
}

pub(crate) fn from_db(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}
