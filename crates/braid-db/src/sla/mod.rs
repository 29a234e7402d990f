//! Service levels on tickets: which policy applies, its clocks as derived from the
//! ticket's history (statuses and messages), the breaches announced, and the timer that
//! announces the next one. [`refresh`] runs inside every transaction that changes a
//! ticket, under its thread's lock, so two changes never announce one breach twice.

pub mod policies;
pub mod schedules;

use braid_core::sla::{self, Choice, Cycle, Happening, Hours, Metric, Moment, PolicyDefinition, TicketFacts};
use braid_core::{Direction, EventKind, SlaPolicyId, TicketId, TicketStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::due_jobs::{self, Due};
use crate::events::{self, NewEvent};
use crate::schema::{messages, ticket_slas, ticket_statuses, tickets};
use crate::tickets::Ticket;
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// A policy as it was applied to a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedPolicy {
    pub id: SlaPolicyId,
    pub name: String,
    pub version: i64,
    #[serde(flatten)]
    pub definition: PolicyDefinition,
}

impl From<&policies::Policy> for AppliedPolicy {
    fn from(policy: &policies::Policy) -> Self {
        Self {
            id: policy.id,
            name: policy.name.clone(),
            version: policy.version,
            definition: policy.definition.clone(),
        }
    }
}

/// A target missed, announced once with `ticket.sla_breached`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub ticket_id: TicketId,
    pub metric: Metric,
    /// When the clock that breached started: with the metric, which clock it was.
    pub started_at: DateTime<Utc>,
    pub breached_at: DateTime<Utc>,
    pub policy_id: SlaPolicyId,
    pub policy_name: String,
    pub target_minutes: u32,
    pub hours: Hours,
}

/// A ticket's service level as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketSla {
    pub ticket_id: TicketId,
    /// The policy applied at the ticket's last change; `None` when none covers it.
    pub policy: Option<AppliedPolicy>,
    /// Why that policy applies, and why each one tried before it did not.
    pub why: Choice<SlaPolicyId>,
    /// Every clock cycle, measured now with the applied policy.
    pub clocks: Vec<Cycle>,
    /// Breaches announced, including under an earlier policy.
    pub breaches: Vec<Breach>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub measured_at: DateTime<Utc>,
}

struct Stored {
    policy: Option<AppliedPolicy>,
    choice: Choice<SlaPolicyId>,
    breaches: Vec<Breach>,
    computed_at: DateTime<Utc>,
}

fn stored(conn: &mut DbConn, ticket: TicketId) -> Result<Option<Stored>, DbError> {
    let row: Option<(Option<String>, String, String, NaiveDateTime)> = ticket_slas::table
        .find(ticket.to_string())
        .select((ticket_slas::policy, ticket_slas::choice, ticket_slas::breaches, ticket_slas::computed_at))
        .first(conn)
        .optional()?;
    row.map(|(policy, choice, breaches, computed_at)| {
        Ok(Stored {
            policy: policy.map(|p| serde_json::from_str(&p)).transpose()?,
            choice: serde_json::from_str(&choice)?,
            breaches: serde_json::from_str(&breaches)?,
            computed_at: from_db(computed_at),
        })
    })
    .transpose()
}

/// The moments of a ticket's history that move clocks, oldest first: its statuses, the
/// customer's messages and public replies. Notes, automated mail (acknowledgements, rules'
/// reminders) and automated inbound mail (out-of-office) are not moments.
fn history(conn: &mut DbConn, ticket: TicketId) -> Result<Vec<Moment>, DbError> {
    let id = ticket.to_string();
    // In the order they were recorded: a status is recorded at the time of what caused it
    // (a message's own time), which can be earlier than one recorded before it.
    let statuses: Vec<(String, NaiveDateTime)> = ticket_statuses::table
        .filter(ticket_statuses::ticket_id.eq(&id))
        .order(ticket_statuses::seq.asc())
        .select((ticket_statuses::status, ticket_statuses::at))
        .load(conn)?;
    // Inbound: placement's own verdict on auto-replies. Outbound: what Braid's rules and
    // acknowledgements mark in their details (an email's envelope has an `automated` key
    // of its own, so inbound details are not read).
    let inbound = messages::direction.eq(Direction::Inbound.as_str());
    let automated = (inbound.and(messages::placement.like("%\"automated_no_reopen\"%"))).or(messages::direction
        .eq(Direction::Outbound.as_str())
        .and(messages::details.like("%\"automated\":\"%").or(messages::details.like("%\"acknowledgement\":true%"))));
    let written: Vec<(String, NaiveDateTime, bool)> = messages::table
        .filter(messages::ticket_id.eq(&id))
        .filter(messages::direction.ne(Direction::Note.as_str()))
        .select((messages::direction, messages::created_at, automated))
        .load(conn)?;
    let mut moments = Vec::with_capacity(statuses.len() + written.len());
    let mut last: Option<DateTime<Utc>> = None;
    for (status, at) in statuses {
        // Never before the status recorded ahead of it, and never at the same instant.
        let at = match last {
            Some(last) if from_db(at) <= last => last + chrono::Duration::microseconds(1),
            _ => from_db(at),
        };
        last = Some(at);
        moments.push(Moment { at, what: Happening::Status(status.parse::<TicketStatus>()?) });
    }
    for (direction, at, automated) in written {
        let what = match direction.parse::<Direction>()? {
            _ if automated => continue,
            Direction::Inbound => Happening::CustomerMessage,
            // An agent's reply, or an integration's through an API key.
            Direction::Outbound => Happening::AgentReply,
            Direction::Note => continue,
        };
        moments.push(Moment { at: from_db(at), what });
    }
    moments.sort_by_key(|moment| moment.at);
    Ok(moments)
}

fn measure(
    conn: &mut DbConn,
    ticket: &Ticket,
    policy: &AppliedPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<Cycle>, DbError> {
    let calendar = match policy.definition.schedule_id {
        Some(schedule) => schedules::calendar(conn, schedule)?,
        None => None,
    };
    let history = history(conn, ticket.id)?;
    Ok(sla::measure(&policy.definition.targets, ticket.priority, calendar.as_ref(), ticket.created_at, &history, now))
}

/// What [`refresh`] did.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// `ticket.sla_breached` for each breach announced now, for the caller to append.
    pub events: Vec<NewEvent>,
    /// The ticket with its new `sla_due_at`, when that changed: a `ticket.*` event made
    /// before is stale, and without one the caller appends `ticket.updated`.
    pub changed: Option<Ticket>,
}

/// Chooses the ticket's policy, measures its clocks at `now`, announces breaches not yet
/// announced and sets the timer for the next due time. Runs in the caller's transaction,
/// under the ticket's thread lock.
pub fn refresh(conn: &mut DbConn, id: TicketId, now: DateTime<Utc>) -> Result<Refreshed, DbError> {
    let policies = policies::enabled(conn)?;
    let before = stored(conn, id)?;
    if policies.is_empty() && before.is_none() {
        return Ok(Refreshed::default());
    }
    let ticket = crate::tickets::get(conn, id)?;
    let facts =
        TicketFacts { priority: ticket.priority, channel: ticket.channel, team: ticket.team_id, tags: &ticket.tags };
    let named: Vec<_> = policies.iter().map(|p| (p.id, p.name.clone(), &p.definition)).collect();
    let choice = sla::choose(&named, &facts);
    let applied = choice.chosen.map(|i| AppliedPolicy::from(&policies[i]));
    let clocks = match &applied {
        Some(policy) => measure(conn, &ticket, policy, now)?,
        None => vec![],
    };
    // A clock that stopped before this policy (this version of it) reached the ticket is
    // history: shown, never announced. One that stopped since, or still runs, is news.
    let applied_since = match (&before, &applied) {
        (Some(Stored { policy: Some(was), computed_at, .. }), Some(now_applied))
            if (was.id, was.version) == (now_applied.id, now_applied.version) =>
        {
            *computed_at
        }
        _ => now,
    };
    let mut breaches = before.map(|b| b.breaches).unwrap_or_default();
    let mut announced = vec![];
    if let Some(policy) = &applied {
        for cycle in &clocks {
            let Some(breached_at) = cycle.breached_at else { continue };
            if breaches.iter().any(|b| (b.metric, b.started_at) == cycle.key()) {
                continue;
            }
            if cycle.stopped_at.is_some_and(|stopped| stopped < applied_since) {
                continue;
            }
            let breach = Breach {
                ticket_id: id,
                metric: cycle.metric,
                started_at: cycle.started_at,
                breached_at,
                policy_id: policy.id,
                policy_name: policy.name.clone(),
                target_minutes: cycle.target_minutes,
                hours: cycle.hours,
            };
            announced.push(
                NewEvent::new(EventKind::TicketSlaBreached, id, &breach, now)?.customer(ticket.customer_id).ticket(id),
            );
            breaches.push(breach);
        }
    }
    let (next_due, soonest) = (sla::next_due(&clocks), sla::soonest_due(&clocks));
    let values = (
        ticket_slas::policy_id.eq(applied.as_ref().map(|p| p.id.to_string())),
        ticket_slas::policy.eq(applied.as_ref().map(serde_json::to_string).transpose()?),
        ticket_slas::choice.eq(serde_json::to_string(&choice)?),
        ticket_slas::clocks.eq(serde_json::to_string(&clocks)?),
        ticket_slas::breaches.eq(serde_json::to_string(&breaches)?),
        ticket_slas::computed_at.eq(to_db(now)),
    );
    let updated = diesel::update(ticket_slas::table.find(id.to_string())).set(values.clone()).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(ticket_slas::table)
            .values((ticket_slas::ticket_id.eq(id.to_string()), values))
            .execute(conn)?;
    }
    let soonest = soonest.map(crate::truncate_to_micros);
    let changed = if ticket.sla_due_at != soonest {
        diesel::update(tickets::table.find(id.to_string()))
            .set(tickets::sla_due_at.eq(soonest.map(to_db)))
            .execute(conn)?;
        Some(Ticket { sla_due_at: soonest, ..ticket })
    } else {
        None
    };
    due_jobs::schedule(conn, due_jobs::SLA, &id.to_string(), next_due)?;
    Ok(Refreshed { events: announced, changed })
}

/// The ticket's service level measured now, with the policy applied at its last change.
/// Sets the timers of the tickets `policy` applies to, or of those whose policy counts
/// `schedule`'s hours, to fire now: an edit reaches their clocks within seconds.
pub fn recheck(
    conn: &mut DbConn,
    policy: Option<SlaPolicyId>,
    schedule: Option<braid_core::ScheduleId>,
) -> Result<usize, DbError> {
    use crate::schema::{due_jobs as jobs, sla_policies};
    let mut affected: Vec<String> = vec![];
    if let Some(policy) = policy {
        affected.push(policy.to_string());
    }
    if let Some(schedule) = schedule {
        affected.extend(
            sla_policies::table
                .filter(sla_policies::schedule_id.eq(schedule.to_string()))
                .select(sla_policies::id)
                .load::<String>(conn)?,
        );
    }
    let tickets = ticket_slas::table.filter(ticket_slas::policy_id.eq_any(affected)).select(ticket_slas::ticket_id);
    Ok(diesel::update(jobs::table.filter(jobs::kind.eq(due_jobs::SLA)).filter(jobs::subject.eq_any(tickets)))
        .set(jobs::due_at.eq(to_db(crate::now())))
        .execute(conn)?)
}

pub fn of_ticket(conn: &mut DbConn, id: TicketId) -> Result<TicketSla, DbError> {
    let ticket = crate::tickets::get(conn, id)?;
    let now = crate::now();
    let Some(stored) = stored(conn, id)? else {
        let why = Choice { chosen: None, matched: vec![], skipped: vec![] };
        return Ok(TicketSla {
            ticket_id: id,
            policy: None,
            why,
            clocks: vec![],
            breaches: vec![],
            next_due_at: None,
            measured_at: now,
        });
    };
    let clocks = match &stored.policy {
        Some(policy) => measure(conn, &ticket, policy, now)?,
        None => vec![],
    };
    Ok(TicketSla {
        ticket_id: id,
        next_due_at: sla::soonest_due(&clocks),
        policy: stored.policy,
        why: stored.choice,
        clocks,
        breaches: stored.breaches,
        measured_at: now,
    })
}

/// Handles one leased SLA timer: measures the ticket now, announcing what breached, and
/// sets the next timer. Returns the breaches announced.
pub fn fire(conn: &mut DbConn, job: &Due, now: DateTime<Utc>) -> Result<usize, DbError> {
    dialect::write_transaction(conn, |conn| {
        let id: TicketId = job.subject.parse()?;
        let customer: Option<String> =
            tickets::table.find(id.to_string()).select(tickets::customer_id).first(conn).optional()?;
        let Some(customer) = customer else {
            due_jobs::schedule(conn, &job.kind, &job.subject, None)?;
            return Ok(0);
        };
        let thread = crate::customers::thread_of(conn, customer.parse()?)?;
        crate::customers::lock_thread(conn, thread)?;
        let owner: String = tickets::table.find(id.to_string()).select(tickets::customer_id).first(conn)?;
        if owner != customer {
            // A merge's undo moved the ticket while we waited: the lease runs out and the
            // next round locks the right thread.
            return Err(DbError::Moved);
        }
        let refreshed = refresh(conn, id, now)?;
        let count = refreshed.events.len();
        let mut written = refreshed.events;
        if refreshed.changed.is_some() {
            crate::tickets::touch(conn, id, now)?;
            written.insert(0, crate::tickets::event(EventKind::TicketUpdated, &crate::tickets::get(conn, id)?)?);
        }
        events::append(conn, written)?;
        Ok(count)
    })
}

/// Records that the ticket took `status` at `at`: the history clocks are derived from.
pub(crate) fn record_status(
    conn: &mut DbConn,
    ticket: TicketId,
    status: TicketStatus,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(ticket_statuses::table)
        .values((
            ticket_statuses::ticket_id.eq(ticket.to_string()),
            ticket_statuses::status.eq(status.as_str()),
            ticket_statuses::at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(())
}
