//! Tickets: creation, lookups for placement, and status changes.

use braid_core::placement::TicketSnapshot;
use braid_core::{
    AgentId, Channel, CustomerId, EventKind, Priority, Subject, Tag, TeamId, TicketId, TicketNumber, TicketStatus,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::NewEvent;
use crate::schema::{ticket_tags, tickets};
use crate::{DbConn, DbError, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: TicketId,
    pub number: TicketNumber,
    pub customer_id: CustomerId,
    pub subject: Subject,
    pub status: TicketStatus,
    pub priority: Priority,
    pub channel: Channel,
    pub assignee_id: Option<AgentId>,
    pub team_id: Option<TeamId>,
    pub tags: Vec<Tag>,
    /// Bumped by every change; the API's ETag.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub solved_at: Option<DateTime<Utc>>,
}

impl Ticket {
    pub fn snapshot(&self) -> TicketSnapshot {
        TicketSnapshot {
            id: self.id,
            number: self.number,
            customer_id: self.customer_id,
            status: self.status,
            solved_at: self.solved_at,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = tickets)]
struct TicketRow {
    id: String,
    number: i64,
    customer_id: String,
    subject: String,
    status: String,
    priority: String,
    channel: String,
    assignee_id: Option<String>,
    team_id: Option<String>,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    solved_at: Option<NaiveDateTime>,
}

impl TicketRow {
    fn into_ticket(self, tags: Vec<Tag>) -> Result<Ticket, DbError> {
        Ok(Ticket {
            id: self.id.parse()?,
            number: TicketNumber::new(self.number)?,
            customer_id: self.customer_id.parse()?,
            subject: Subject::from_inbound(Some(&self.subject)),
            status: self.status.parse()?,
            priority: self.priority.parse()?,
            channel: self.channel.parse()?,
            assignee_id: self.assignee_id.map(|id| id.parse()).transpose()?,
            team_id: self.team_id.map(|id| id.parse()).transpose()?,
            tags,
            version: self.version,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
            solved_at: self.solved_at.map(from_db),
        })
    }

    fn snapshot(self) -> Result<TicketSnapshot, DbError> {
        Ok(TicketSnapshot {
            id: self.id.parse()?,
            number: TicketNumber::new(self.number)?,
            customer_id: self.customer_id.parse()?,
            status: self.status.parse()?,
            solved_at: self.solved_at.map(from_db),
        })
    }
}

pub fn get(conn: &mut DbConn, id: TicketId) -> Result<Ticket, DbError> {
    let row: TicketRow = tickets::table.find(id.to_string()).select(TicketRow::as_select()).first(conn)?;
    let tags = tags_of(conn, id)?;
    row.into_ticket(tags)
}

fn tags_of(conn: &mut DbConn, id: TicketId) -> Result<Vec<Tag>, DbError> {
    ticket_tags::table
        .filter(ticket_tags::ticket_id.eq(id.to_string()))
        .order(ticket_tags::tag.asc())
        .select(ticket_tags::tag)
        .load::<String>(conn)?
        .iter()
        .map(|tag| Tag::parse(tag).map_err(DbError::from))
        .collect()
}

pub fn snapshot(conn: &mut DbConn, id: TicketId) -> Result<Option<TicketSnapshot>, DbError> {
    tickets::table
        .find(id.to_string())
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?
        .map(TicketRow::snapshot)
        .transpose()
}

pub fn snapshot_by_number(conn: &mut DbConn, number: TicketNumber) -> Result<Option<TicketSnapshot>, DbError> {
    tickets::table
        .filter(tickets::number.eq(number.get()))
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?
        .map(TicketRow::snapshot)
        .transpose()
}

/// The customer's unsolved ticket with the most recent activity.
pub fn latest_unsolved(conn: &mut DbConn, customer: CustomerId) -> Result<Option<TicketSnapshot>, DbError> {
    let unsolved = [TicketStatus::Open, TicketStatus::Pending, TicketStatus::OnHold].map(TicketStatus::as_str);
    tickets::table
        .filter(tickets::customer_id.eq(customer.to_string()).and(tickets::status.eq_any(unsolved)))
        .order((tickets::updated_at.desc(), tickets::id.desc()))
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?
        .map(TicketRow::snapshot)
        .transpose()
}

/// The customer's most recently solved ticket.
pub fn latest_solved(conn: &mut DbConn, customer: CustomerId) -> Result<Option<TicketSnapshot>, DbError> {
    tickets::table
        .filter(tickets::customer_id.eq(customer.to_string()).and(tickets::status.eq(TicketStatus::Solved.as_str())))
        .order((tickets::solved_at.desc(), tickets::id.desc()))
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?
        .map(TicketRow::snapshot)
        .transpose()
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub customer_id: CustomerId,
    pub subject: Subject,
    pub priority: Priority,
    pub channel: Channel,
    pub assignee_id: Option<AgentId>,
    pub team_id: Option<TeamId>,
    pub tags: Vec<Tag>,
    pub at: DateTime<Utc>,
}

/// Opens a ticket with the next number. The caller records the event ([`event`]).
pub fn create(conn: &mut DbConn, new: NewTicket) -> Result<Ticket, DbError> {
    let id = TicketId::new();
    let number = dialect::next_ticket_number(conn)?;
    diesel::insert_into(tickets::table)
        .values((
            tickets::id.eq(id.to_string()),
            tickets::number.eq(number),
            tickets::customer_id.eq(new.customer_id.to_string()),
            tickets::subject.eq(new.subject.as_str()),
            tickets::status.eq(TicketStatus::Open.as_str()),
            tickets::priority.eq(new.priority.as_str()),
            tickets::channel.eq(new.channel.as_str()),
            tickets::assignee_id.eq(new.assignee_id.map(|id| id.to_string())),
            tickets::team_id.eq(new.team_id.map(|id| id.to_string())),
            tickets::version.eq(1),
            tickets::created_at.eq(to_db(new.at)),
            tickets::updated_at.eq(to_db(new.at)),
        ))
        .execute(conn)?;
    let mut tags = new.tags;
    tags.sort();
    tags.dedup();
    for tag in &tags {
        diesel::insert_into(ticket_tags::table)
            .values((ticket_tags::ticket_id.eq(id.to_string()), ticket_tags::tag.eq(tag.as_str())))
            .execute(conn)?;
    }
    get(conn, id)
}

/// A new message arrived on the ticket: it becomes the most recently active, and its
/// status moves as placement decided (a solved ticket reopens, a pending one opens).
/// Returns the `ticket.updated` event when the status changed.
pub fn on_new_message(
    conn: &mut DbConn,
    ticket: &TicketSnapshot,
    status: TicketStatus,
    at: DateTime<Utc>,
) -> Result<Option<NewEvent>, DbError> {
    let id = ticket.id.to_string();
    let solved_at = if status == TicketStatus::Solved { ticket.solved_at.map(to_db) } else { None };
    diesel::update(tickets::table.find(&id))
        .set((
            tickets::status.eq(status.as_str()),
            tickets::solved_at.eq(solved_at),
            tickets::updated_at.eq(to_db(at)),
            tickets::version.eq(tickets::version + 1),
        ))
        .execute(conn)?;
    if status == ticket.status {
        return Ok(None);
    }
    let ticket = get(conn, ticket.id)?;
    event(EventKind::TicketUpdated, &ticket).map(Some)
}

/// A `ticket.*` event carrying the ticket as it now is.
pub fn event(kind: EventKind, ticket: &Ticket) -> Result<NewEvent, DbError> {
    Ok(NewEvent::new(kind, ticket.id, ticket, ticket.updated_at)?.customer(ticket.customer_id).ticket(ticket.id))
}
