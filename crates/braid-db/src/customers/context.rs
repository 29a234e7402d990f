//! What an agent needs before answering, in one read: who the customer is (identities
//! with trust, attributes, preferences, notes), what is open, what happened lately on
//! every channel, and since when they have been in touch.
//!
//! A fixed number of indexed queries, whatever the customer's history: no query per
//! ticket, and lists bounded by the caller's `recent` (`braid-bench context` measures it
//! on a customer with 1,000 tickets).

use std::collections::BTreeMap;

use braid_core::{AgentId, Channel, CustomerId, Priority, TicketId, TicketNumber, TicketStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;

use super::attributes::{self, AttributeValue};
use super::notes::{self, Note};
use super::preferences::{self, Preferences};
use super::{CustomerProfile, profile};
use crate::schema::{customers, messages, threads, tickets};
use crate::{DbConn, DbError, from_db};

/// Open tickets listed at most: more is a backlog for a list, not a context.
pub const MAX_OPEN: i64 = 50;
/// Notes listed at most (the newest).
pub const NOTES: i64 = 5;

/// A ticket as the context lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketLine {
    pub id: TicketId,
    pub number: TicketNumber,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub channel: Channel,
    pub assignee_id: Option<AgentId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Context {
    pub customer: CustomerProfile,
    pub attributes: Vec<AttributeValue>,
    pub preferences: Preferences,
    /// The newest notes (at most [`NOTES`]).
    pub notes: Vec<Note>,
    /// Open, pending and on-hold tickets, most recently active first (at most [`MAX_OPEN`]).
    pub open_tickets: Vec<TicketLine>,
    /// The latest tickets on every channel, newest first, whatever their status.
    pub recent_tickets: Vec<TicketLine>,
    /// The customer's first message on any channel (or, with none, when they were added).
    pub first_contact_at: DateTime<Utc>,
    /// The latest message in their thread, either way.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Tickets by the channel they started on.
    pub tickets_by_channel: BTreeMap<String, i64>,
    pub tickets_total: i64,
}

/// A thread's id, last message and what its messages taught (channel, language, offset).
type ThreadRow = (String, Option<NaiveDateTime>, Option<String>, Option<String>, Option<String>);

type LineRow = (String, i64, String, String, String, String, Option<String>, NaiveDateTime, NaiveDateTime);

/// The columns of a [`TicketLine`].
pub(super) const LINE: (
    tickets::id,
    tickets::number,
    tickets::subject,
    tickets::status,
    tickets::priority,
    tickets::channel,
    tickets::assignee_id,
    tickets::created_at,
    tickets::updated_at,
) = (
    tickets::id,
    tickets::number,
    tickets::subject,
    tickets::status,
    tickets::priority,
    tickets::channel,
    tickets::assignee_id,
    tickets::created_at,
    tickets::updated_at,
);

/// Loads ticket lines, in the query's order.
pub(super) fn lines<Q>(conn: &mut DbConn, query: Q) -> Result<Vec<TicketLine>, DbError>
where
    Q: diesel::query_dsl::LoadQuery<'static, DbConn, LineRow>,
{
    query.load::<LineRow>(conn)?.into_iter().map(line).collect()
}

fn line(
    (id, number, subject, status, priority, channel, assignee, created_at, updated_at): LineRow,
) -> Result<TicketLine, DbError> {
    Ok(TicketLine {
        id: id.parse()?,
        number: TicketNumber::new(number)?,
        subject,
        status: status.parse()?,
        priority: priority.parse()?,
        channel: channel.parse()?,
        assignee_id: assignee.map(|a| a.parse()).transpose()?,
        created_at: from_db(created_at),
        updated_at: from_db(updated_at),
    })
}

/// The context of a live customer; [`DbError::Merged`] for a tombstone. `recent`: how many
/// of the latest tickets to list.
pub fn of(conn: &mut DbConn, id: CustomerId, recent: i64) -> Result<Context, DbError> {
    // Nine queries, each on an index; the customer first, so a tombstone answers before
    // anything else is read.
    let customer = profile(conn, id)?;
    if let Some(into) = customer.customer.merged_into {
        return Err(DbError::Merged { into });
    }
    let key = id.to_string();
    let attributes = attributes::stored(conn, id)?;
    let (stored_preferences, (thread, last_message_at, channel, language, offset)): (String, ThreadRow) =
        customers::table
            .inner_join(threads::table)
            .filter(customers::id.eq(&key))
            .select((
                customers::preferences,
                (
                    threads::id,
                    threads::last_message_at,
                    threads::inbound_channel,
                    threads::inbound_language,
                    threads::inbound_utc_offset,
                ),
            ))
            .first(conn)?;
    let preferences = preferences::combine(&stored_preferences, (channel, language, offset))?;
    let notes = notes::page_of(conn, id, None, NOTES)?.items;

    // Written as the partial index `tickets_open_by_customer` is (a literal, so every plan
    // can use it): most recently active first with no sort, however many are open.
    let open = dsl::sql::<Bool>("status IN ('open', 'pending', 'on_hold')");
    let open_tickets = lines(
        conn,
        tickets::table
            .filter(tickets::customer_id.eq(key.clone()))
            .filter(open)
            .order((tickets::updated_at.desc(), tickets::id.desc()))
            .limit(MAX_OPEN)
            .select(LINE),
    )?;
    let recent_tickets = lines(
        conn,
        tickets::table
            .filter(tickets::customer_id.eq(key.clone()))
            .order((tickets::created_at.desc(), tickets::id.desc()))
            .limit(recent)
            .select(LINE),
    )?;
    let by_channel: Vec<(String, i64)> = tickets::table
        .filter(tickets::customer_id.eq(&key))
        .group_by(tickets::channel)
        .select((tickets::channel, dsl::count_star()))
        .load(conn)?;
    let first_message: Option<NaiveDateTime> = messages::table
        .filter(messages::thread_id.eq(&thread))
        .order((messages::created_at.asc(), messages::id.asc()))
        .select(messages::created_at)
        .first(conn)
        .optional()?;
    let first_contact_at = first_message.map(from_db).unwrap_or(customer.customer.created_at);
    Ok(Context {
        customer,
        attributes,
        preferences,
        notes,
        open_tickets,
        recent_tickets,
        first_contact_at,
        last_message_at: last_message_at.map(from_db),
        tickets_total: by_channel.iter().map(|(_, n)| n).sum(),
        tickets_by_channel: by_channel.into_iter().collect(),
    })
}
