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
use crate::{Cursor, DbConn, DbError, Page, dialect, events, from_db, to_db};

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
    /// When the soonest running SLA clock reaches its target (see `sla`).
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Snoozed until then: out of the default list (see `follow_ups`).
    pub snoozed_until: Option<DateTime<Utc>>,
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
    sla_due_at: Option<NaiveDateTime>,
    snoozed_until: Option<NaiveDateTime>,
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
            sla_due_at: self.sla_due_at.map(from_db),
            snoozed_until: self.snoozed_until.map(from_db),
        })
    }
}

/// The columns placement decides by, without the rest of the row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = tickets)]
pub(crate) struct SnapshotRow {
    id: String,
    number: i64,
    customer_id: String,
    status: String,
    solved_at: Option<NaiveDateTime>,
}

impl SnapshotRow {
    /// The columns, for a query that cannot use `as_select` (a left join's nullable side).
    pub(crate) fn columns() -> (tickets::id, tickets::number, tickets::customer_id, tickets::status, tickets::solved_at)
    {
        (tickets::id, tickets::number, tickets::customer_id, tickets::status, tickets::solved_at)
    }

    pub(crate) fn snapshot(self) -> Result<TicketSnapshot, DbError> {
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
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?
        .map(SnapshotRow::snapshot)
        .transpose()
}

/// The tickets named by id or by number, in one query.
pub fn snapshots(
    conn: &mut DbConn,
    ids: &[TicketId],
    numbers: &[TicketNumber],
) -> Result<Vec<TicketSnapshot>, DbError> {
    if ids.is_empty() && numbers.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let numbers: Vec<i64> = numbers.iter().map(|n| n.get()).collect();
    tickets::table
        .filter(tickets::id.eq_any(ids).or(tickets::number.eq_any(numbers)))
        .filter(dialect::planned_each_time())
        .select(SnapshotRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SnapshotRow::snapshot)
        .collect()
}

/// The customer's unsolved ticket with the most recent activity.
pub fn latest_unsolved(conn: &mut DbConn, customer: CustomerId) -> Result<Option<TicketSnapshot>, DbError> {
    let unsolved = [TicketStatus::Open, TicketStatus::Pending, TicketStatus::OnHold].map(TicketStatus::as_str);
    tickets::table
        .filter(tickets::customer_id.eq(customer.to_string()).and(tickets::status.eq_any(unsolved)))
        .order((tickets::updated_at.desc(), tickets::id.desc()))
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?
        .map(SnapshotRow::snapshot)
        .transpose()
}

/// The customer's most recently solved ticket.
pub fn latest_solved(conn: &mut DbConn, customer: CustomerId) -> Result<Option<TicketSnapshot>, DbError> {
    tickets::table
        .filter(tickets::customer_id.eq(customer.to_string()).and(tickets::status.eq(TicketStatus::Solved.as_str())))
        .order((tickets::solved_at.desc(), tickets::id.desc()))
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?
        .map(SnapshotRow::snapshot)
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
/// A new ticket's row, all but its number (see [`dialect::insert_numbered_ticket`]).
#[derive(Debug, Insertable)]
#[diesel(table_name = tickets)]
pub struct NewTicketRow<'a> {
    id: &'a str,
    customer_id: &'a str,
    subject: &'a str,
    status: &'a str,
    priority: &'a str,
    channel: &'a str,
    assignee_id: Option<&'a str>,
    team_id: Option<&'a str>,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

pub fn create(conn: &mut DbConn, new: NewTicket) -> Result<Ticket, DbError> {
    let id = TicketId::new();
    let (id_text, customer_text) = (id.to_string(), new.customer_id.to_string());
    let (assignee, team) = (new.assignee_id.map(|id| id.to_string()), new.team_id.map(|id| id.to_string()));
    let row = NewTicketRow {
        id: &id_text,
        customer_id: &customer_text,
        subject: new.subject.as_str(),
        status: TicketStatus::Open.as_str(),
        priority: new.priority.as_str(),
        channel: new.channel.as_str(),
        assignee_id: assignee.as_deref(),
        team_id: team.as_deref(),
        version: 1,
        created_at: to_db(new.at),
        updated_at: to_db(changed_at(new.at)),
    };
    let number = dialect::insert_numbered_ticket(conn, row)?;
    crate::sla::record_status(conn, id, TicketStatus::Open, new.at)?;
    let mut tags = new.tags;
    tags.sort();
    tags.dedup();
    for tag in &tags {
        diesel::insert_into(ticket_tags::table)
            .values((ticket_tags::ticket_id.eq(id.to_string()), ticket_tags::tag.eq(tag.as_str())))
            .execute(conn)?;
    }
    // Everything is known: reading the row back would only cost a round trip.
    let (at, updated_at) = (crate::truncate_to_micros(new.at), crate::truncate_to_micros(changed_at(new.at)));
    Ok(Ticket {
        id,
        number: TicketNumber::new(number)?,
        customer_id: new.customer_id,
        subject: new.subject,
        status: TicketStatus::Open,
        priority: new.priority,
        channel: new.channel,
        assignee_id: new.assignee_id,
        team_id: new.team_id,
        tags,
        version: 1,
        created_at: at,
        updated_at,
        solved_at: None,
        sla_due_at: None,
        snoozed_until: None,
    })
}

/// When a ticket changed because of something that happened at `at`: then, unless that
/// was long ago (a connector importing history), when the change is made. So a ticket an
/// import touched still shows up in `updated_since`, and never moves back in time.
fn changed_at(at: DateTime<Utc>) -> DateTime<Utc> {
    let now = crate::now();
    if now - at > chrono::Duration::minutes(1) { now } else { at }
}

/// A new message arrived on the ticket: it becomes the most recently active, and its
/// status moves as placement decided (a solved ticket reopens, a pending one opens).
/// Returns the `ticket.updated` event when the status changed, and what the customer's
/// message ended of the ticket's follow-ups (a snooze, reminders) when a person wrote it
/// (an out-of-office reply ends none).
pub fn on_new_message(
    conn: &mut DbConn,
    ticket: &TicketSnapshot,
    status: TicketStatus,
    at: DateTime<Utc>,
    person_wrote: bool,
) -> Result<Vec<NewEvent>, DbError> {
    let id = ticket.id.to_string();
    let solved_at = if status == TicketStatus::Solved { ticket.solved_at.map(to_db) } else { None };
    let follow_ups: bool = diesel::update(tickets::table.find(&id))
        .set((
            tickets::status.eq(status.as_str()),
            tickets::solved_at.eq(solved_at),
            tickets::updated_at.eq(to_db(changed_at(at))),
            tickets::version.eq(tickets::version + 1),
        ))
        .returning(tickets::follow_ups_on_reply)
        .get_result(conn)?;
    let mut written = vec![];
    if status != ticket.status {
        crate::sla::record_status(conn, ticket.id, status, at)?;
        if ticket.status == TicketStatus::Pending {
            // The customer answered: the team's pending rule has nothing left to do.
            crate::due_jobs::schedule(conn, crate::follow_ups::PENDING_REMIND, &id, None)?;
            crate::due_jobs::schedule(conn, crate::follow_ups::PENDING_SOLVE, &id, None)?;
        }
        let changed = get(conn, ticket.id)?;
        crate::csat::on_status_change(conn, ticket.status, &changed, at)?;
        written.push(event(EventKind::TicketUpdated, &changed)?);
        written.extend(crate::routing::on_ticket_change(conn, Some((ticket.status, changed.team_id)), &changed, at)?);
    }
    if follow_ups && person_wrote {
        written.extend(crate::follow_ups::on_customer_message(conn, ticket.id, crate::now())?);
    }
    Ok(written)
}

/// A `ticket.*` event carrying the ticket as it now is.
pub fn event(kind: EventKind, ticket: &Ticket) -> Result<NewEvent, DbError> {
    Ok(NewEvent::new(kind, ticket.id, ticket, ticket.updated_at)?.customer(ticket.customer_id).ticket(ticket.id))
}

/// Narrows a ticket list; every field is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    /// `Some(None)`: unassigned tickets.
    pub assignee: Option<Option<AgentId>>,
    pub team: Option<TeamId>,
    pub tag: Option<Tag>,
    pub priority: Option<Priority>,
    pub channel: Option<Channel>,
    pub customer: Option<CustomerId>,
    pub updated_since: Option<DateTime<Utc>>,
    /// `Some(false)`: not snoozed; `Some(true)`: only snoozed; `None`: both.
    pub snoozed: Option<bool>,
}

/// The orders a ticket list comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketSort {
    #[default]
    UpdatedDesc,
    UpdatedAsc,
    CreatedDesc,
    CreatedAsc,
    /// Soonest SLA due time first; only tickets with a running SLA clock.
    SlaDue,
}

impl TicketSort {
    fn key(self, ticket: &Ticket) -> Cursor {
        let at = match self {
            Self::UpdatedDesc | Self::UpdatedAsc => ticket.updated_at,
            Self::CreatedDesc | Self::CreatedAsc => ticket.created_at,
            Self::SlaDue => ticket.sla_due_at.unwrap_or(ticket.updated_at),
        };
        Cursor { at, id: ticket.id.to_string() }
    }
}

pub fn list(
    conn: &mut DbConn,
    filter: &TicketFilter,
    sort: TicketSort,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Ticket>, DbError> {
    let mut query = tickets::table.select(TicketRow::as_select()).into_boxed();
    // One status is `=`, not `= ANY(…)`: PostgreSQL then walks `tickets_by_status` in
    // order instead of filtering the whole `tickets_by_updated` index.
    match filter.statuses.as_slice() {
        [] => {}
        [status] => query = query.filter(tickets::status.eq(status.as_str())),
        several => query = query.filter(tickets::status.eq_any(several.iter().map(|s| s.as_str()).collect::<Vec<_>>())),
    }
    match filter.assignee {
        Some(Some(agent)) => query = query.filter(tickets::assignee_id.eq(agent.to_string())),
        Some(None) => query = query.filter(tickets::assignee_id.is_null()),
        None => {}
    }
    if let Some(team) = filter.team {
        query = query.filter(tickets::team_id.eq(team.to_string()));
    }
    if let Some(tag) = &filter.tag {
        let tagged =
            ticket_tags::table.filter(ticket_tags::tag.eq(tag.as_str().to_owned())).select(ticket_tags::ticket_id);
        query = query.filter(tickets::id.eq_any(tagged));
    }
    if let Some(priority) = filter.priority {
        query = query.filter(tickets::priority.eq(priority.as_str()));
    }
    if let Some(channel) = filter.channel {
        query = query.filter(tickets::channel.eq(channel.as_str()));
    }
    if let Some(customer) = filter.customer {
        query = query.filter(tickets::customer_id.eq(customer.to_string()));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(tickets::updated_at.ge(to_db(since)));
    }
    match filter.snoozed {
        Some(true) => query = query.filter(tickets::snoozed_until.is_not_null()),
        Some(false) => query = query.filter(tickets::snoozed_until.is_null()),
        None => {}
    }
    let cursor = after.map(|c| (to_db(c.at), c.id.clone()));
    query = match (sort, cursor) {
        (TicketSort::UpdatedDesc, Some((at, id))) => {
            query.filter(tickets::updated_at.le(at).and(tickets::updated_at.lt(at).or(tickets::id.lt(id))))
        }
        (TicketSort::UpdatedAsc, Some((at, id))) => {
            query.filter(tickets::updated_at.ge(at).and(tickets::updated_at.gt(at).or(tickets::id.gt(id))))
        }
        (TicketSort::CreatedDesc, Some((at, id))) => {
            query.filter(tickets::created_at.le(at).and(tickets::created_at.lt(at).or(tickets::id.lt(id))))
        }
        (TicketSort::CreatedAsc, Some((at, id))) => {
            query.filter(tickets::created_at.ge(at).and(tickets::created_at.gt(at).or(tickets::id.gt(id))))
        }
        (TicketSort::SlaDue, Some((at, id))) => {
            query.filter(tickets::sla_due_at.ge(at).and(tickets::sla_due_at.gt(at).or(tickets::id.gt(id))))
        }
        (_, None) => query,
    };
    if sort == TicketSort::SlaDue {
        query = query.filter(tickets::sla_due_at.is_not_null());
    }
    query = match sort {
        TicketSort::UpdatedDesc => query.order((tickets::updated_at.desc(), tickets::id.desc())),
        TicketSort::UpdatedAsc => query.order((tickets::updated_at.asc(), tickets::id.asc())),
        TicketSort::CreatedDesc => query.order((tickets::created_at.desc(), tickets::id.desc())),
        TicketSort::CreatedAsc => query.order((tickets::created_at.asc(), tickets::id.asc())),
        TicketSort::SlaDue => query.order((tickets::sla_due_at.asc(), tickets::id.asc())),
    };
    let rows: Vec<TicketRow> = query.limit(limit + 1).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut tags = tags_of_many(conn, &ids)?;
    let tickets = rows
        .into_iter()
        .map(|row| {
            let tags = tags.remove(&row.id).unwrap_or_default();
            row.into_ticket(tags)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(tickets, limit, |ticket| sort.key(ticket)))
}

fn tags_of_many(conn: &mut DbConn, ids: &[String]) -> Result<std::collections::HashMap<String, Vec<Tag>>, DbError> {
    let mut by_ticket: std::collections::HashMap<String, Vec<Tag>> = std::collections::HashMap::new();
    let rows: Vec<(String, String)> = ticket_tags::table
        .filter(ticket_tags::ticket_id.eq_any(ids))
        .filter(dialect::planned_each_time())
        .order((ticket_tags::ticket_id.asc(), ticket_tags::tag.asc()))
        .select((ticket_tags::ticket_id, ticket_tags::tag))
        .load(conn)?;
    for (ticket, tag) in rows {
        by_ticket.entry(ticket).or_default().push(Tag::parse(&tag)?);
    }
    Ok(by_ticket)
}

/// What a PATCH may change; `None` leaves a field as it is. `assignee_id: Some(None)`
/// unassigns.
#[derive(Debug, Clone, Default)]
pub struct TicketChanges {
    pub subject: Option<Subject>,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<AgentId>>,
    pub team_id: Option<Option<TeamId>>,
    pub tags: Option<Vec<Tag>>,
}

impl TicketChanges {
    /// Changes nothing: an empty PATCH, answered with the ticket as it is.
    pub fn is_empty(&self) -> bool {
        let TicketChanges { subject, status, priority, assignee_id, team_id, tags } = self;
        subject.is_none()
            && status.is_none()
            && priority.is_none()
            && assignee_id.is_none()
            && team_id.is_none()
            && tags.is_none()
    }
}

/// Why an update was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("the ticket changed since version {expected}; it is now at {actual}")]
    Stale { expected: i64, actual: i64 },
    #[error("a ticket cannot move from {from} to {to}")]
    Transition { from: TicketStatus, to: TicketStatus },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for UpdateError {
    fn from(error: diesel::result::Error) -> Self {
        UpdateError::Db(error.into())
    }
}

/// Applies `changes` when the ticket is still at `expected_version` (when given), with
/// the status machine enforced, and records `ticket.updated`.
pub fn update(
    conn: &mut DbConn,
    id: TicketId,
    expected_version: Option<i64>,
    changes: &TicketChanges,
) -> Result<Ticket, UpdateError> {
    dialect::write_transaction(conn, |conn| update_in(conn, id, expected_version, changes))
}

/// [`update`] inside the caller's write transaction (a rule acting on a ticket).
pub fn update_in(
    conn: &mut DbConn,
    id: TicketId,
    expected_version: Option<i64>,
    changes: &TicketChanges,
) -> Result<Ticket, UpdateError> {
    {
        // Lock the customer's thread before reading the ticket, as placement does, so a
        // message being placed and this change take turns: placement cannot reopen a
        // ticket closed meanwhile, and concurrent PATCHes each see the latest version.
        let customer: CustomerId = tickets::table
            .find(id.to_string())
            .select(tickets::customer_id)
            .first::<String>(conn)?
            .parse()
            .map_err(DbError::from)?;
        let thread = crate::customers::thread_of(conn, customer)?;
        crate::customers::lock_thread(conn, thread)?;
        let before = get(conn, id)?;
        if before.customer_id != customer {
            // A merge's undo moved the ticket while we waited for the lock.
            return Err(DbError::Moved.into());
        }
        if let Some(expected) = expected_version
            && expected != before.version
        {
            return Err(UpdateError::Stale { expected, actual: before.version });
        }
        // Nothing to change is no new version: other editors' If-Match stays good.
        if changes.is_empty() {
            return Ok(before);
        }
        if let Some(to) = changes.status
            && !before.status.can_transition_to(to)
        {
            return Err(UpdateError::Transition { from: before.status, to });
        }
        let now = crate::now();
        let status = changes.status.unwrap_or(before.status);
        let solved_at = match (before.status, status) {
            (TicketStatus::Solved | TicketStatus::Closed, TicketStatus::Solved | TicketStatus::Closed) => {
                before.solved_at
            }
            (_, TicketStatus::Solved) => Some(now),
            _ => None,
        };
        // The version guard in the WHERE clause makes a concurrent writer that read the
        // same version lose here rather than overwrite silently.
        let updated = diesel::update(tickets::table.find(id.to_string()).filter(tickets::version.eq(before.version)))
            .set((
                &TicketChangeset {
                    subject: changes.subject.as_ref().map(Subject::as_str),
                    status: changes.status.map(TicketStatus::as_str),
                    priority: changes.priority.map(Priority::as_str),
                    assignee_id: changes.assignee_id.map(|a| a.map(|a| a.to_string())),
                    team_id: changes.team_id.map(|t| t.map(|t| t.to_string())),
                },
                tickets::solved_at.eq(solved_at.map(to_db)),
                tickets::updated_at.eq(to_db(now)),
                tickets::version.eq(before.version + 1),
            ))
            .execute(conn)?;
        if updated == 0 {
            let actual = get(conn, id)?.version;
            return Err(UpdateError::Stale { expected: before.version, actual });
        }
        if status != before.status {
            crate::sla::record_status(conn, id, status, now)?;
        }
        if let Some(tags) = &changes.tags {
            diesel::delete(ticket_tags::table.filter(ticket_tags::ticket_id.eq(id.to_string()))).execute(conn)?;
            let mut tags = tags.clone();
            tags.sort();
            tags.dedup();
            for tag in &tags {
                diesel::insert_into(ticket_tags::table)
                    .values((ticket_tags::ticket_id.eq(id.to_string()), ticket_tags::tag.eq(tag.as_str())))
                    .execute(conn)?;
            }
        }
        let breaches = crate::sla::refresh(conn, id, now)?.events;
        let ticket = get(conn, id)?;
        let woke = crate::follow_ups::on_ticket_change(conn, Some(&before), &ticket, now)?;
        if ticket.status != before.status {
            crate::csat::on_status_change(conn, before.status, &ticket, now)?;
        }
        let ticket = if woke.is_empty() { ticket } else { get(conn, id)? };
        let mut events = vec![event(EventKind::TicketUpdated, &ticket)?];
        events.extend(woke);
        events.extend(breaches);
        let routed = crate::routing::on_ticket_change(conn, Some((before.status, before.team_id)), &ticket, now)?;
        let ticket = if routed.is_empty() { ticket } else { get(conn, id)? };
        events.extend(routed);
        events::append(conn, events)?;
        Ok(ticket)
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = tickets)]
struct TicketChangeset<'a> {
    subject: Option<&'a str>,
    status: Option<&'a str>,
    priority: Option<&'a str>,
    assignee_id: Option<Option<String>>,
    team_id: Option<Option<String>>,
}

/// Opens a ticket for a customer from the API (after a phone call, say), recording
/// `ticket.created`.
pub fn open(conn: &mut DbConn, new: NewTicket) -> Result<Ticket, DbError> {
    dialect::write_transaction(conn, |conn| {
        // Locked against merges: a ticket never opens on a tombstone, nor slips between a
        // merge's record of what it moves and the move.
        crate::customers::lock_live(conn, new.customer_id)?;
        let created = create(conn, new)?;
        let now = crate::now();
        let breaches = crate::sla::refresh(conn, created.id, now)?.events;
        let ticket = get(conn, created.id)?;
        let mut events = vec![event(EventKind::TicketCreated, &ticket)?];
        events.extend(breaches);
        events.extend(crate::routing::on_ticket_change(conn, None, &ticket, now)?);
        events::append(conn, events)?;
        get(conn, created.id)
    })
}

/// What a ticket opened by an agent or an integration may start with.
#[derive(Debug, Clone)]
pub struct FirstMessage {
    /// `Inbound`: what the customer said (a phone call logged); `Note`: an internal note.
    pub direction: braid_core::Direction,
    pub text: String,
    /// The agent logging it, if an agent is.
    pub author_agent_id: Option<AgentId>,
}

/// Opens a ticket with its first message, in one transaction: both or neither.
pub fn open_with_message(
    conn: &mut DbConn,
    new: NewTicket,
    first: FirstMessage,
) -> Result<(Ticket, crate::messages::Message), DbError> {
    use braid_core::{AuthorKind, Direction};
    dialect::write_transaction(conn, |conn| {
        let thread = crate::customers::lock_live(conn, new.customer_id)?;
        let (channel, at) = (new.channel, new.at);
        let ticket = create(conn, new)?;
        let author_kind = match (first.direction, first.author_agent_id) {
            (Direction::Inbound, _) => AuthorKind::Customer,
            (_, Some(_)) => AuthorKind::Agent,
            (_, None) => AuthorKind::System,
        };
        let message = crate::messages::insert(
            conn,
            crate::messages::NewMessage {
                thread_id: thread,
                ticket_id: Some(ticket.id),
                channel,
                direction: first.direction,
                author_kind,
                author_agent_id: first.author_agent_id,
                text: first.text,
                html: None,
                channel_ref: None,
                content_digest: None,
                identity_id: None,
                delivery_state: None,
                placement: vec![],
                details: serde_json::json!({}),
                original: None,
                at,
            },
        )?;
        crate::customers::touch_thread(conn, thread, at)?;
        let now = crate::now();
        let breaches = crate::sla::refresh(conn, ticket.id, now)?.events;
        let ticket = get(conn, ticket.id)?;
        let mut events = vec![
            event(EventKind::TicketCreated, &ticket)?,
            crate::messages::created_event(&message, ticket.customer_id)?,
        ];
        events.extend(breaches);
        events.extend(crate::routing::on_ticket_change(conn, None, &ticket, now)?);
        events::append(conn, events)?;
        Ok((get(conn, ticket.id)?, message))
    })
}

/// An agent answered: the ticket is the most recently active, and its version moves so
/// cached copies revalidate.
pub fn touch(conn: &mut DbConn, id: TicketId, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(tickets::table.find(id.to_string()))
        .set((tickets::updated_at.eq(to_db(at)), tickets::version.eq(tickets::version + 1)))
        .execute(conn)?;
    Ok(())
}
