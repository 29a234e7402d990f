//! Follow-ups on tickets, each with its timer in `due_jobs`: a snooze (the ticket leaves
//! the default list until its time, or the customer's reply), reminders for agents (fired
//! once, or cancelled by the customer's reply), and a team's rule for tickets left pending
//! (remind the customer, then solve). Every firing is guarded by the row it changes, in the
//! transaction that records its event, so it happens once however many nodes fire it.

use braid_core::follow_up::PendingRule;
use braid_core::{AgentId, EventKind, TicketId, TicketStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::due_jobs::{self, Due};
use crate::events::{self, NewEvent};
use crate::schema::{reminders, ticket_statuses, tickets};
use crate::tickets::{self as ticket_rows, Ticket};
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// Timer kinds.
pub const SNOOZE: &str = "snooze";
pub const REMINDER: &str = "reminder";
pub const PENDING_REMIND: &str = "pending_remind";
pub const PENDING_SOLVE: &str = "pending_solve";

/// Pending reminders one ticket holds at most.
pub const MAX_REMINDERS_PER_TICKET: i64 = 50;

/// Why a snoozed ticket woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Woke {
    Due,
    CustomerReplied,
    Unsnoozed,
    /// Solved or closed: a snooze keeps only unsolved work out of sight.
    Solved,
}

/// `ticket.woke`: the ticket as it now is, why, and until when it was snoozed.
#[derive(Debug, Serialize)]
struct WokePayload<'a> {
    ticket: &'a Ticket,
    reason: Woke,
    snoozed_until: DateTime<Utc>,
}

/// Locks the ticket's thread (the lock every change to a ticket takes first) and reads it.
pub(crate) fn lock_ticket(conn: &mut DbConn, id: TicketId) -> Result<Ticket, DbError> {
    let customer: String = tickets::table.find(id.to_string()).select(tickets::customer_id).first(conn)?;
    let thread = crate::customers::thread_of(conn, customer.parse()?)?;
    crate::customers::lock_thread(conn, thread)?;
    let ticket = ticket_rows::get(conn, id)?;
    if ticket.customer_id.to_string() != customer {
        return Err(DbError::Moved);
    }
    Ok(ticket)
}

fn bump(conn: &mut DbConn, id: TicketId, now: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(tickets::table.find(id.to_string()))
        .set((tickets::version.eq(tickets::version + 1), tickets::updated_at.eq(to_db(now))))
        .execute(conn)?;
    Ok(())
}

/// Snoozes an unsolved ticket until `until`; with `wake_on_reply`, the customer's next
/// message wakes it sooner. Snoozing again moves the time.
pub fn snooze(conn: &mut DbConn, id: TicketId, until: DateTime<Utc>, wake_on_reply: bool) -> Result<Ticket, DbError> {
    dialect::write_transaction(conn, |conn| {
        let ticket = lock_ticket(conn, id)?;
        if !ticket.status.is_unsolved() {
            return Err(DbError::Refused(format!("a {} ticket cannot be snoozed", ticket.status)));
        }
        let now = crate::now();
        diesel::update(tickets::table.find(id.to_string()))
            .set((tickets::snoozed_until.eq(Some(to_db(until))), tickets::snooze_wakes_on_reply.eq(wake_on_reply)))
            .execute(conn)?;
        if wake_on_reply {
            diesel::update(tickets::table.find(id.to_string()))
                .set(tickets::follow_ups_on_reply.eq(true))
                .execute(conn)?;
        }
        bump(conn, id, now)?;
        due_jobs::schedule(conn, SNOOZE, &id.to_string(), Some(until))?;
        let ticket = ticket_rows::get(conn, id)?;
        events::append(conn, vec![ticket_rows::event(EventKind::TicketSnoozed, &ticket)?])?;
        Ok(ticket)
    })
}

/// Wakes a snoozed ticket now, at an agent's word. A ticket not snoozed is returned as is.
pub fn unsnooze(conn: &mut DbConn, id: TicketId) -> Result<Ticket, DbError> {
    dialect::write_transaction(conn, |conn| {
        lock_ticket(conn, id)?;
        let woke = wake(conn, id, Woke::Unsnoozed, crate::now())?;
        events::append(conn, woke.into_iter().collect())?;
        ticket_rows::get(conn, id)
    })
}

/// Ends the ticket's snooze, if it has one; the caller holds the thread lock.
fn wake(conn: &mut DbConn, id: TicketId, reason: Woke, now: DateTime<Utc>) -> Result<Option<NewEvent>, DbError> {
    let until: Option<NaiveDateTime> =
        tickets::table.find(id.to_string()).select(tickets::snoozed_until).first(conn)?;
    let Some(until) = until else { return Ok(None) };
    diesel::update(tickets::table.find(id.to_string()))
        .set((tickets::snoozed_until.eq(None::<NaiveDateTime>), tickets::snooze_wakes_on_reply.eq(false)))
        .execute(conn)?;
    bump(conn, id, now)?;
    due_jobs::schedule(conn, SNOOZE, &id.to_string(), None)?;
    let ticket = ticket_rows::get(conn, id)?;
    let payload = WokePayload { ticket: &ticket, reason, snoozed_until: from_db(until) };
    Ok(Some(NewEvent::new(EventKind::TicketWoke, id, &payload, now)?.customer(ticket.customer_id).ticket(id)))
}

/// The customer wrote on a ticket with follow-ups waiting on that (placement calls this,
/// in its transaction, when the ticket's `follow_ups_on_reply` was set): a snooze that
/// wakes on a reply ends, and reminders cancelled by a reply are.
pub fn on_customer_message(conn: &mut DbConn, id: TicketId, now: DateTime<Utc>) -> Result<Vec<NewEvent>, DbError> {
    let mut written = vec![];
    let wakes: bool = tickets::table.find(id.to_string()).select(tickets::snooze_wakes_on_reply).first(conn)?;
    if wakes {
        written.extend(wake(conn, id, Woke::CustomerReplied, now)?);
    }
    let cancelled: Vec<String> = reminders::table
        .filter(reminders::ticket_id.eq(id.to_string()))
        .filter(reminders::state.eq("pending"))
        .filter(reminders::cancel_on_reply.eq(true))
        .select(reminders::id)
        .load(conn)?;
    for reminder in cancelled {
        written.extend(end_reminder(conn, &reminder, "cancelled", now)?);
    }
    diesel::update(tickets::table.find(id.to_string())).set(tickets::follow_ups_on_reply.eq(false)).execute(conn)?;
    Ok(written)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reminder {
    pub id: String,
    pub ticket_id: TicketId,
    /// Whom it reminds.
    pub agent_id: AgentId,
    pub created_by: Option<AgentId>,
    pub due_at: DateTime<Utc>,
    pub note: String,
    pub cancel_on_reply: bool,
    /// `pending`, `fired` or `cancelled`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = reminders)]
struct ReminderRow {
    id: String,
    ticket_id: String,
    agent_id: String,
    created_by: Option<String>,
    due_at: NaiveDateTime,
    note: String,
    cancel_on_reply: bool,
    state: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<ReminderRow> for Reminder {
    type Error = DbError;

    fn try_from(row: ReminderRow) -> Result<Self, DbError> {
        Ok(Reminder {
            id: row.id,
            ticket_id: row.ticket_id.parse()?,
            agent_id: row.agent_id.parse()?,
            created_by: row.created_by.map(|id| id.parse()).transpose()?,
            due_at: from_db(row.due_at),
            note: row.note,
            cancel_on_reply: row.cancel_on_reply,
            state: row.state,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

fn reminder(conn: &mut DbConn, id: &str) -> Result<Reminder, DbError> {
    reminders::table.find(id).select(ReminderRow::as_select()).first(conn)?.try_into()
}

fn reminder_event(
    kind: EventKind,
    reminder: &Reminder,
    customer: impl ToString,
    at: DateTime<Utc>,
) -> Result<NewEvent, DbError> {
    Ok(NewEvent::new(kind, &reminder.id, reminder, at)?.customer(customer).ticket(reminder.ticket_id))
}

#[derive(Debug, Clone)]
pub struct NewReminder {
    pub ticket: TicketId,
    pub agent: AgentId,
    pub created_by: Option<AgentId>,
    pub due_at: DateTime<Utc>,
    pub note: String,
    pub cancel_on_reply: bool,
}

/// Sets a reminder on a ticket that is not closed.
pub fn add_reminder(conn: &mut DbConn, new: &NewReminder) -> Result<Reminder, DbError> {
    dialect::write_transaction(conn, |conn| {
        let ticket = lock_ticket(conn, new.ticket)?;
        if ticket.status == TicketStatus::Closed {
            return Err(DbError::TicketClosed);
        }
        let active = crate::schema::agents::table
            .find(new.agent.to_string())
            .select(crate::schema::agents::active)
            .first::<bool>(conn)
            .optional()?;
        if active != Some(true) {
            return Err(DbError::Invalid { field: "agent_id".into(), message: "no active agent has this id".into() });
        }
        let pending: i64 = reminders::table
            .filter(reminders::ticket_id.eq(new.ticket.to_string()))
            .filter(reminders::state.eq("pending"))
            .count()
            .get_result(conn)?;
        if pending >= MAX_REMINDERS_PER_TICKET {
            return Err(DbError::OverLimit { field: "reminders", max: MAX_REMINDERS_PER_TICKET as usize });
        }
        let (id, now) = (uuid::Uuid::now_v7().to_string(), crate::now());
        diesel::insert_into(reminders::table)
            .values((
                reminders::id.eq(&id),
                reminders::ticket_id.eq(new.ticket.to_string()),
                reminders::agent_id.eq(new.agent.to_string()),
                reminders::created_by.eq(new.created_by.map(|a| a.to_string())),
                reminders::due_at.eq(to_db(new.due_at)),
                reminders::note.eq(&new.note),
                reminders::cancel_on_reply.eq(new.cancel_on_reply),
                reminders::state.eq("pending"),
                reminders::created_at.eq(to_db(now)),
                reminders::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        if new.cancel_on_reply {
            diesel::update(tickets::table.find(new.ticket.to_string()))
                .set(tickets::follow_ups_on_reply.eq(true))
                .execute(conn)?;
        }
        due_jobs::schedule(conn, REMINDER, &id, Some(new.due_at))?;
        let created = reminder(conn, &id)?;
        events::append(conn, vec![reminder_event(EventKind::ReminderCreated, &created, ticket.customer_id, now)?])?;
        Ok(created)
    })
}

/// A ticket's reminders, newest first (at most 200).
pub fn reminders_of(conn: &mut DbConn, ticket: TicketId) -> Result<Vec<Reminder>, DbError> {
    reminders::table
        .filter(reminders::ticket_id.eq(ticket.to_string()))
        .order((reminders::created_at.desc(), reminders::id.desc()))
        .limit(200)
        .select(ReminderRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Reminder::try_from)
        .collect()
}

/// Cancels a pending reminder; one already cancelled is returned as it is, one that fired
/// is refused.
pub fn cancel_reminder(conn: &mut DbConn, ticket: TicketId, id: &str) -> Result<Reminder, DbError> {
    dialect::write_transaction(conn, |conn| {
        lock_ticket(conn, ticket)?;
        let found = reminder(conn, id)?;
        if found.ticket_id != ticket {
            return Err(DbError::NotFound);
        }
        match found.state.as_str() {
            "pending" => {
                let ended = end_reminder(conn, id, "cancelled", crate::now())?;
                events::append(conn, ended.into_iter().collect())?;
                reminder(conn, id)
            }
            "fired" => Err(DbError::Refused("the reminder already fired".into())),
            _ => Ok(found),
        }
    })
}

/// Moves a pending reminder to `state` and drops its timer; `None` when it was no longer
/// pending (another node got there first).
fn end_reminder(conn: &mut DbConn, id: &str, state: &str, now: DateTime<Utc>) -> Result<Option<NewEvent>, DbError> {
    let changed = diesel::update(reminders::table.find(id).filter(reminders::state.eq("pending")))
        .set((reminders::state.eq(state), reminders::updated_at.eq(to_db(now))))
        .execute(conn)?;
    due_jobs::schedule(conn, REMINDER, id, None)?;
    if changed == 0 {
        return Ok(None);
    }
    let ended = reminder(conn, id)?;
    let customer: String = tickets::table.find(ended.ticket_id.to_string()).select(tickets::customer_id).first(conn)?;
    let kind = if state == "fired" { EventKind::ReminderFired } else { EventKind::ReminderCancelled };
    Ok(Some(reminder_event(kind, &ended, customer, now)?))
}

/// A ticket's status or team changed: start, move or stop its team's pending rule. The
/// rule counts from when the ticket went pending (or moved to the team while pending).
/// A solved or closed ticket's snooze ends too; its `ticket.woke` is returned.
pub(crate) fn on_ticket_change(
    conn: &mut DbConn,
    before: Option<&Ticket>,
    after: &Ticket,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, DbError> {
    let subject = after.id.to_string();
    let woke = match after.snoozed_until {
        Some(_) if !after.status.is_unsolved() => wake(conn, after.id, Woke::Solved, now)?.into_iter().collect(),
        _ => vec![],
    };
    let was_pending = before.is_some_and(|b| b.status == TicketStatus::Pending);
    if after.status != TicketStatus::Pending {
        if was_pending {
            due_jobs::schedule(conn, PENDING_REMIND, &subject, None)?;
            due_jobs::schedule(conn, PENDING_SOLVE, &subject, None)?;
        }
        return Ok(woke);
    }
    if was_pending && before.is_some_and(|b| b.team_id == after.team_id) {
        return Ok(woke);
    }
    let remind_at = match pending_rule(conn, after)? {
        Some((rule, calendar)) => rule.due(calendar.as_ref(), now).0,
        None => None,
    };
    due_jobs::schedule(conn, PENDING_REMIND, &subject, remind_at)?;
    due_jobs::schedule(conn, PENDING_SOLVE, &subject, None)?;
    Ok(woke)
}

fn pending_rule(
    conn: &mut DbConn,
    ticket: &Ticket,
) -> Result<Option<(PendingRule, Option<braid_core::schedule::Calendar>)>, DbError> {
    let Some(team) = ticket.team_id else { return Ok(None) };
    let Some(rule) = crate::teams::get(conn, team)?.pending_rule else { return Ok(None) };
    let calendar = match rule.schedule_id {
        Some(schedule) => crate::sla::schedules::calendar(conn, schedule)?,
        None => None,
    };
    Ok(Some((rule, calendar)))
}

/// Handles one leased follow-up timer. Returns what it did, for the log.
pub fn fire(conn: &mut DbConn, job: &Due, now: DateTime<Utc>) -> Result<&'static str, DbError> {
    dialect::write_transaction(conn, |conn| {
        // Under the lock below, the timer must still be there and due: a node whose lease
        // ran out, or a job moved while it was leased (snoozed again, pending again), finds
        // nothing to do.
        let still_due = |conn: &mut DbConn| -> Result<bool, DbError> {
            use crate::schema::due_jobs as jobs;
            let due: i64 = jobs::table
                .filter(jobs::kind.eq(&job.kind))
                .filter(jobs::subject.eq(&job.subject))
                .filter(jobs::due_at.le(to_db(now)))
                .count()
                .get_result(conn)?;
            Ok(due > 0)
        };
        let done = match job.kind.as_str() {
            REMINDER => {
                let ticket: Option<String> =
                    reminders::table.find(&job.subject).select(reminders::ticket_id).first(conn).optional()?;
                let Some(ticket) = ticket else {
                    due_jobs::schedule(conn, REMINDER, &job.subject, None)?;
                    return Ok("gone");
                };
                lock_ticket(conn, ticket.parse()?)?;
                if !still_due(conn)? {
                    return Ok("nothing");
                }
                let fired = end_reminder(conn, &job.subject, "fired", now)?;
                let done = if fired.is_some() { "reminder fired" } else { "nothing" };
                events::append(conn, fired.into_iter().collect())?;
                done
            }
            SNOOZE => {
                let id: TicketId = job.subject.parse()?;
                let ticket = lock_ticket(conn, id)?;
                if !still_due(conn)? || ticket.snoozed_until.is_none_or(|until| until > now) {
                    return Ok("nothing");
                }
                let woke = wake(conn, id, Woke::Due, now)?;
                let done = if woke.is_some() { "snooze ended" } else { "nothing" };
                events::append(conn, woke.into_iter().collect())?;
                done
            }
            PENDING_REMIND | PENDING_SOLVE => {
                let id: TicketId = job.subject.parse()?;
                let ticket = lock_ticket(conn, id)?;
                match (still_due(conn)?, job.kind.as_str()) {
                    (false, _) => "nothing",
                    (true, PENDING_REMIND) => remind_pending(conn, ticket, now)?,
                    (true, _) => solve_pending(conn, ticket, now)?,
                }
            }
            _ => return Err(DbError::Refused(format!("no follow-up of kind {}", job.kind))),
        };
        Ok(done)
    })
}

/// When the ticket last went pending.
fn pending_since(conn: &mut DbConn, ticket: TicketId) -> Result<Option<DateTime<Utc>>, DbError> {
    let last: Option<(String, NaiveDateTime)> = ticket_statuses::table
        .filter(ticket_statuses::ticket_id.eq(ticket.to_string()))
        .order((ticket_statuses::at.desc(), ticket_statuses::seq.desc()))
        .select((ticket_statuses::status, ticket_statuses::at))
        .first(conn)
        .optional()?;
    Ok(last.filter(|(status, _)| status == TicketStatus::Pending.as_str()).map(|(_, at)| from_db(at)))
}

fn remind_pending(conn: &mut DbConn, ticket: Ticket, now: DateTime<Utc>) -> Result<&'static str, DbError> {
    let id = ticket.id;
    due_jobs::schedule(conn, PENDING_REMIND, &id.to_string(), None)?;
    let (Some(since), Some((rule, calendar))) = (pending_since(conn, id)?, pending_rule(conn, &ticket)?) else {
        return Ok("nothing");
    };
    if ticket.status != TicketStatus::Pending {
        return Ok("nothing");
    }
    // The rule was lengthened since the timer was set: wait for the new time.
    if let Some(later) = rule.due(calendar.as_ref(), since).0.filter(|at| *at > now + chrono::Duration::minutes(1)) {
        due_jobs::schedule(conn, PENDING_REMIND, &id.to_string(), Some(later))?;
        return Ok("nothing");
    }
    let thread = crate::customers::thread_of(conn, ticket.customer_id)?;
    let (channel, route) = crate::messages::default_route(conn, id, ticket.channel)?;
    let mut details = serde_json::json!({ "automated": "pending_reminder" });
    if let (Some(route), Some(map)) = (route, details.as_object_mut()) {
        map.insert("route".into(), route);
    }
    let message = crate::messages::AgentMessage {
        ticket: id,
        customer: ticket.customer_id,
        thread,
        author_agent_id: None,
        text: rule.reminder_text.clone(),
        details,
    };
    let (_, event) = crate::messages::queue_reply_in(conn, message, channel, now)?;
    events::append(conn, vec![event])?;
    // The customer gets the days between reminder and solve, even when the reminder came
    // late (a move to the team, a rule set while the ticket waited).
    let solve_at = rule.due(calendar.as_ref(), since).1.max(rule.solve_after_reminder(calendar.as_ref(), now));
    due_jobs::schedule(conn, PENDING_SOLVE, &id.to_string(), solve_at)?;
    Ok("pending reminder sent")
}

fn solve_pending(conn: &mut DbConn, ticket: Ticket, now: DateTime<Utc>) -> Result<&'static str, DbError> {
    let id = ticket.id;
    due_jobs::schedule(conn, PENDING_SOLVE, &id.to_string(), None)?;
    let Some((rule, _)) = pending_rule(conn, &ticket)? else { return Ok("nothing") };
    if ticket.status != TicketStatus::Pending {
        return Ok("nothing");
    }
    let changes = ticket_rows::TicketChanges { status: Some(TicketStatus::Solved), ..Default::default() };
    ticket_rows::update_in(conn, id, None, &changes).map_err(|error| match error {
        ticket_rows::UpdateError::Db(error) => error,
        other => DbError::Refused(other.to_string()),
    })?;
    let thread = crate::customers::thread_of(conn, ticket.customer_id)?;
    let note = crate::messages::AgentMessage {
        ticket: id,
        customer: ticket.customer_id,
        thread,
        author_agent_id: None,
        text: format!(
            "Solved by the team's rule: pending with no answer from the customer for {} days.",
            rule.solve_after_days
        ),
        details: serde_json::json!({ "automated": "pending_solve" }),
    };
    let (_, event) = crate::messages::note_in(conn, note, now)?;
    events::append(conn, vec![event])?;
    Ok("pending ticket solved")
}
