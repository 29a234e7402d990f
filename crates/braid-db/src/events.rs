//! The event log: one row per change, written in the same transaction as the change it
//! records, and read in an order that never changes once a reader has seen it.

use braid_core::EventKind;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::events;
use crate::{DbConn, DbError, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub position: Position,
    pub kind: EventKind,
    pub subject_id: String,
    pub customer_id: Option<String>,
    pub ticket_id: Option<String>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// What a change says about itself, ready to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub subject_id: String,
    pub customer_id: Option<String>,
    pub ticket_id: Option<String>,
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl NewEvent {
    pub fn new(
        kind: EventKind,
        subject_id: impl ToString,
        payload: &impl Serialize,
        at: DateTime<Utc>,
    ) -> Result<Self, DbError> {
        Ok(Self {
            kind,
            subject_id: subject_id.to_string(),
            customer_id: None,
            ticket_id: None,
            payload: serde_json::to_value(payload)?,
            at,
        })
    }

    pub fn customer(mut self, id: impl ToString) -> Self {
        self.customer_id = Some(id.to_string());
        self
    }

    pub fn ticket(mut self, id: impl ToString) -> Self {
        self.ticket_id = Some(id.to_string());
        self
    }
}

/// Where an event sits in the log. Readers resume after a position; positions order the
/// log the same way for every reader and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// The writing transaction (PostgreSQL's transaction id; 0 on SQLite).
    pub tx: i64,
    pub seq: i64,
}

/// Written `<tx>.<seq>`: what the live stream and the widget send with every frame and
/// take back to resume.
impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.tx, self.seq)
    }
}

impl std::str::FromStr for Position {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (tx, seq) = s.split_once('.').ok_or(())?;
        let (tx, seq) = (tx.parse().map_err(|_| ())?, seq.parse().map_err(|_| ())?);
        if tx < 0 || seq < 0 {
            return Err(());
        }
        Ok(Position { tx, seq })
    }
}

/// Appends events in the caller's transaction. No lock is taken: the log's order is
/// settled by the reader ([`since`]), so concurrent writers commit side by side.
pub fn append(conn: &mut DbConn, batch: Vec<NewEvent>) -> Result<(), DbError> {
    let rows: Vec<_> = batch
        .into_iter()
        .map(|event| {
            (
                events::kind.eq(event.kind.as_str()),
                events::subject_id.eq(event.subject_id),
                events::customer_id.eq(event.customer_id),
                events::ticket_id.eq(event.ticket_id),
                events::payload.eq(event.payload.to_string()),
                events::created_at.eq(to_db(event.at)),
            )
        })
        .collect();
    if rows.len() > 1 {
        // One multi-row statement, one round trip.
        return dialect::insert_many(conn, events::table, rows);
    }
    // One row (or none): a statement diesel prepares once per connection.
    for row in rows {
        diesel::insert_into(events::table).values(row).execute(conn)?;
    }
    Ok(())
}

type Row = (i64, i64, String, String, Option<String>, Option<String>, String, chrono::NaiveDateTime);

/// Events after `after` (exclusive; `None` from the start), in log order, at most `limit`.
///
/// Only the final part of the log is returned: on PostgreSQL, rows of transactions older
/// than every transaction still running (see [`dialect::event_horizon`]). A transaction
/// that commits later always has a later position than anything returned here, so a
/// reader that resumes from its last position misses nothing.
pub fn since(conn: &mut DbConn, after: Option<Position>, limit: i64) -> Result<Vec<Event>, DbError> {
    let horizon = dialect::event_horizon(conn)?;
    read(conn, None, after, limit, horizon)
}

/// [`since`], and whether committed events were held back because an older transaction
/// still runs (PostgreSQL): a follower then looks again shortly instead of waiting for the
/// next wake-up, which that older transaction (a write that wakes nobody) may never send.
pub fn since_or_held_back(
    conn: &mut DbConn,
    after: Option<Position>,
    limit: i64,
) -> Result<(Vec<Event>, bool), DbError> {
    // One horizon for both questions: what is final, and what waits behind it.
    let horizon = dialect::event_horizon(conn)?;
    let events = read(conn, None, after, limit, horizon)?;
    let held: Option<i64> = events::table.filter(events::tx.ge(horizon)).select(events::tx).first(conn).optional()?;
    Ok((events, held.is_some()))
}

/// [`since`], for some customers' events only (a chat visitor's customer, and those merged
/// into it: events keep the customer they were written for).
pub fn since_for_customers(
    conn: &mut DbConn,
    customers: &[String],
    after: Option<Position>,
    limit: i64,
) -> Result<Vec<Event>, DbError> {
    let horizon = dialect::event_horizon(conn)?;
    read(conn, Some(customers), after, limit, horizon)
}

/// The latest `limit` events of `kind` for some customers, newest first (a visitor's
/// history ends with the latest read receipt).
pub fn latest_for_customers(
    conn: &mut DbConn,
    customers: &[String],
    kind: EventKind,
    limit: i64,
) -> Result<Vec<Event>, DbError> {
    let rows: Vec<Row> = events::table
        .filter(dialect::planned_each_time())
        .filter(events::customer_id.eq_any(customers))
        .filter(events::kind.eq(kind.as_str()))
        .order((events::tx.desc(), events::seq.desc()))
        .limit(limit)
        .select((
            events::tx,
            events::seq,
            events::kind,
            events::subject_id,
            events::customer_id,
            events::ticket_id,
            events::payload,
            events::created_at,
        ))
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}

/// The last final position: a reader that loads the present state after reading it, then
/// follows the log from it, misses nothing (it may see a change twice).
pub fn head(conn: &mut DbConn) -> Result<Position, DbError> {
    let horizon = dialect::event_horizon(conn)?;
    let last: Option<(i64, i64)> = events::table
        .filter(events::tx.lt(horizon))
        .order((events::tx.desc(), events::seq.desc()))
        .select((events::tx, events::seq))
        .first(conn)
        .optional()?;
    Ok(last.map(|(tx, seq)| Position { tx, seq }).unwrap_or_default())
}

fn read(
    conn: &mut DbConn,
    customers: Option<&[String]>,
    after: Option<Position>,
    limit: i64,
    horizon: i64,
) -> Result<Vec<Event>, DbError> {
    let after = after.unwrap_or(Position { tx: i64::MIN, seq: i64::MIN });
    let mut query = events::table
        .filter(events::tx.ge(after.tx).and(events::tx.gt(after.tx).or(events::seq.gt(after.seq))))
        .filter(events::tx.lt(horizon))
        .into_boxed();
    if let Some(customers) = customers {
        query = query.filter(dialect::planned_each_time()).filter(events::customer_id.eq_any(customers));
    }
    let rows: Vec<Row> = query
        .order((events::tx.asc(), events::seq.asc()))
        .limit(limit)
        .select((
            events::tx,
            events::seq,
            events::kind,
            events::subject_id,
            events::customer_id,
            events::ticket_id,
            events::payload,
            events::created_at,
        ))
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}

fn from_row((tx, seq, kind, subject_id, customer_id, ticket_id, payload, created_at): Row) -> Result<Event, DbError> {
    Ok(Event {
        position: Position { tx, seq },
        kind: kind.parse()?,
        subject_id,
        customer_id,
        ticket_id,
        payload: serde_json::from_str(&payload)?,
        created_at: from_db(created_at),
    })
}
