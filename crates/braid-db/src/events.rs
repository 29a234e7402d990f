//! The event log: one row per change, written in the same transaction as the change it
//! records, and read in an order that never changes once a reader has seen it.

use braid_core::EventKind;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{event_log_pruned, events};
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
        .select(COLUMNS)
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}

/// The last final position: a reader that loads the present state after reading it, then
/// follows the log from it, misses nothing (it may see a change twice).
pub fn head(conn: &mut DbConn) -> Result<Position, DbError> {
    let horizon = dialect::event_horizon(conn)?;
    final_head(conn, horizon)
}

/// A page of the sync feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub events: Vec<Event>,
    /// Where the next page starts: the last event's position, or, when nothing more is
    /// final, the last final position (so a filtered reader skips what it does not want).
    pub next: Position,
    /// More final events wait after `next`.
    pub has_more: bool,
}

/// What a feed reader gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    Page(FeedPage),
    /// The reader's position is not one the log can continue from: events after it were
    /// pruned, or it is past anything the log ever gave (a database restored elsewhere).
    /// `restart` is the log's last final position: reload what you mirror, then follow
    /// from there.
    Expired {
        restart: Position,
    },
}

/// Events one page may take past `limit` to end on a transaction's boundary; a larger
/// transaction is split after this many (its positions still resume exactly).
pub const MAX_EXTENSION: i64 = 10_000;

/// Positions one filtered page looks through at most: a filter matching nothing for a
/// long stretch answers "nothing yet, more to look at" instead of scanning the log.
pub const MAX_SCAN: i64 = 50_000;

/// The sync feed: final events after `after` (from the start of what the log keeps when
/// `None`) of `kinds` (every kind when empty), in log order.
///
/// A page holds at least `limit` events when that many are final, and ends on a
/// transaction's boundary: the rest of the last event's transaction comes along, up to
/// [`MAX_EXTENSION`] more (PostgreSQL; SQLite writes one transaction at a time and records
/// none, its positions are all `0.<seq>`).
pub fn feed(conn: &mut DbConn, after: Option<Position>, limit: i64, kinds: &[EventKind]) -> Result<Feed, DbError> {
    let horizon = dialect::event_horizon(conn)?;
    let start = match after {
        Some(after) => after,
        None => pruned_through(conn)?,
    };
    let kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
    // With a filter, look through at most MAX_SCAN positions.
    let bound: Option<Position> = if kinds.is_empty() {
        None
    } else {
        events::table
            .filter(events::tx.ge(start.tx).and(events::tx.gt(start.tx).or(events::seq.gt(start.seq))))
            .filter(events::tx.lt(horizon))
            .order((events::tx.asc(), events::seq.asc()))
            .offset(MAX_SCAN - 1)
            .select((events::tx, events::seq))
            .first::<(i64, i64)>(conn)
            .optional()?
            .map(|(tx, seq)| Position { tx, seq })
    };
    let select = |conn: &mut DbConn, from: Position, only_tx: bool, limit: i64| -> Result<Vec<Event>, DbError> {
        let mut query = events::table
            .filter(events::tx.ge(from.tx).and(events::tx.gt(from.tx).or(events::seq.gt(from.seq))))
            .filter(events::tx.lt(horizon))
            .into_boxed();
        if only_tx {
            query = query.filter(events::tx.eq(from.tx));
        }
        if !kinds.is_empty() {
            query = query.filter(events::kind.eq_any(&kinds));
        }
        if let Some(bound) = bound {
            query = query.filter(events::tx.le(bound.tx).and(events::tx.lt(bound.tx).or(events::seq.le(bound.seq))));
        }
        let rows: Vec<Row> =
            query.order((events::tx.asc(), events::seq.asc())).limit(limit).select(COLUMNS).load(conn)?;
        rows.into_iter().map(from_row).collect()
    };
    let mut events = select(conn, start, false, limit + 1)?;
    let mut has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    if has_more && let Some(last) = events.last().map(|event| event.position) {
        // The rest of the last transaction (tx 0 is SQLite's: no transactions recorded).
        if last.tx != 0 {
            let mut rest = select(conn, last, true, MAX_EXTENSION + 1)?;
            let split = rest.len() as i64 > MAX_EXTENSION;
            rest.truncate(MAX_EXTENSION as usize);
            if !rest.is_empty() {
                events.extend(rest);
                let last = events.last().map(|event| event.position).unwrap_or(last);
                has_more = split || !select(conn, last, false, 1)?.is_empty();
            }
        }
    }
    let mut next = events.last().map(|event| event.position).unwrap_or(start).max(start);
    let head = final_head(conn, horizon)?;
    if !has_more {
        match bound {
            // The scan stopped at its bound: more of the log waits behind it.
            Some(bound) if bound < head => {
                next = next.max(bound);
                has_more = true;
            }
            _ => next = next.max(head),
        }
    }
    // Checked after reading: pruning that committed before the read is seen here. A
    // reader with no cursor started from what was kept, and is never told otherwise.
    let pruned = pruned_through(conn)?;
    if let Some(after) = after
        && (after < pruned || after > head.max(pruned))
    {
        return Ok(Feed::Expired { restart: head.max(pruned) });
    }
    Ok(Feed::Page(FeedPage { events, next, has_more }))
}

/// The last position pruned from the log (`0.0`: nothing yet).
pub fn pruned_through(conn: &mut DbConn) -> Result<Position, DbError> {
    let row: Option<(i64, i64)> =
        event_log_pruned::table.select((event_log_pruned::tx, event_log_pruned::seq)).first(conn).optional()?;
    Ok(row.map(|(tx, seq)| Position { tx, seq }).unwrap_or_default())
}

/// Deletes up to `batch` of the oldest final events written before `before`, from the
/// start of the log up to the first one that is not that old, and records how far the log
/// was pruned. Returns how many went; call again until none do.
pub fn prune(conn: &mut DbConn, before: DateTime<Utc>, batch: i64) -> Result<usize, DbError> {
    dialect::write_transaction(conn, |conn| {
        // One pruner at a time, so the recorded position only moves forward.
        dialect::lock_key(conn, "events.prune")?;
        let horizon = dialect::event_horizon(conn)?;
        // From where the last batch ended: the index then starts past the rows it deleted,
        // instead of stepping over them until vacuum clears them.
        let done = pruned_through(conn)?;
        let oldest: Vec<(i64, i64, chrono::NaiveDateTime)> = events::table
            .filter(events::tx.lt(horizon))
            .filter(events::tx.ge(done.tx))
            .filter(events::tx.gt(done.tx).or(events::seq.gt(done.seq)))
            .order((events::tx.asc(), events::seq.asc()))
            .limit(batch)
            .select((events::tx, events::seq, events::created_at))
            .load(conn)?;
        let cutoff = to_db(before);
        let old_enough: Vec<(i64, i64)> =
            oldest.iter().take_while(|(_, _, at)| *at < cutoff).map(|&(tx, seq, _)| (tx, seq)).collect();
        let Some(&(mut tx, mut seq)) = old_enough.last() else {
            return Ok(0);
        };
        // Never end inside a transaction (PostgreSQL names them; SQLite's `tx` is always 0):
        // a reader resuming at the cut would get half of it. Back off to the transaction
        // before; one transaction larger than a batch goes whole.
        if tx != 0 {
            let rest: Option<i64> = events::table
                .filter(events::tx.eq(tx).and(events::seq.gt(seq)))
                .select(diesel::dsl::max(events::seq))
                .first(conn)?;
            if let Some(last_of_tx) = rest {
                match old_enough.iter().rev().find(|(earlier, _)| *earlier != tx) {
                    Some(&(earlier_tx, earlier_seq)) => (tx, seq) = (earlier_tx, earlier_seq),
                    None => seq = last_of_tx,
                }
            }
        }
        let deleted =
            diesel::delete(events::table.filter(events::tx.lt(tx).or(events::tx.eq(tx).and(events::seq.le(seq)))))
                .execute(conn)?;
        diesel::update(event_log_pruned::table)
            .set((
                event_log_pruned::tx.eq(tx),
                event_log_pruned::seq.eq(seq),
                event_log_pruned::pruned_at.eq(to_db(crate::now())),
            ))
            .execute(conn)?;
        Ok(deleted)
    })
}

/// How far readers are held back: the age of the oldest committed event they cannot read
/// yet because an older transaction still runs (PostgreSQL; zero on SQLite).
pub fn horizon_lag(conn: &mut DbConn) -> Result<chrono::Duration, DbError> {
    let horizon = dialect::event_horizon(conn)?;
    let oldest: Option<chrono::NaiveDateTime> =
        events::table.filter(events::tx.ge(horizon)).select(diesel::dsl::min(events::created_at)).first(conn)?;
    Ok(oldest.map(|at| (crate::now() - from_db(at)).max(chrono::Duration::zero())).unwrap_or_default())
}

/// The last position below `horizon`.
fn final_head(conn: &mut DbConn, horizon: i64) -> Result<Position, DbError> {
    let last: Option<(i64, i64)> = events::table
        .filter(events::tx.lt(horizon))
        .order((events::tx.desc(), events::seq.desc()))
        .select((events::tx, events::seq))
        .first(conn)
        .optional()?;
    Ok(last.map(|(tx, seq)| Position { tx, seq }).unwrap_or_default())
}

const COLUMNS: (
    events::tx,
    events::seq,
    events::kind,
    events::subject_id,
    events::customer_id,
    events::ticket_id,
    events::payload,
    events::created_at,
) = (
    events::tx,
    events::seq,
    events::kind,
    events::subject_id,
    events::customer_id,
    events::ticket_id,
    events::payload,
    events::created_at,
);

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
    let rows: Vec<Row> = query.order((events::tx.asc(), events::seq.asc())).limit(limit).select(COLUMNS).load(conn)?;
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
