//! The event log: one row per change, numbered in commit order, written in the same
//! transaction as the change it records.

use braid_core::EventKind;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::events;
use crate::{DbConn, DbError, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
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

/// Appends events, returning the last sequence number. Call it last in a transaction:
/// on PostgreSQL it holds the log's lock until commit, so the shorter the better.
pub fn append(conn: &mut DbConn, batch: Vec<NewEvent>) -> Result<Option<i64>, DbError> {
    if batch.is_empty() {
        return Ok(None);
    }
    dialect::lock_event_log(conn)?;
    let mut last = None;
    for event in batch {
        let seq = diesel::insert_into(events::table)
            .values((
                events::kind.eq(event.kind.as_str()),
                events::subject_id.eq(event.subject_id),
                events::customer_id.eq(event.customer_id),
                events::ticket_id.eq(event.ticket_id),
                events::payload.eq(event.payload.to_string()),
                events::created_at.eq(to_db(event.at)),
            ))
            .returning(events::seq)
            .get_result(conn)?;
        last = Some(seq);
    }
    Ok(last)
}

type Row = (i64, String, String, Option<String>, Option<String>, String, chrono::NaiveDateTime);

/// Events after `after` (exclusive), oldest first.
pub fn since(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<Event>, DbError> {
    let rows: Vec<Row> = events::table
        .filter(events::seq.gt(after))
        .order(events::seq.asc())
        .limit(limit)
        .select((
            events::seq,
            events::kind,
            events::subject_id,
            events::customer_id,
            events::ticket_id,
            events::payload,
            events::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(seq, kind, subject_id, customer_id, ticket_id, payload, created_at)| {
            Ok(Event {
                seq,
                kind: kind.parse()?,
                subject_id,
                customer_id,
                ticket_id,
                payload: serde_json::from_str(&payload)?,
                created_at: from_db(created_at),
            })
        })
        .collect()
}
