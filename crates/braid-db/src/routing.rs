//! Routing: agents' presence (a lease kept by heartbeats or the agent stream), the team's
//! choice of agent for a new, moved or reopened ticket (recorded with its reason), and the
//! re-queue of an offline agent's tickets once the team's grace period ends.
//!
//! Every routing decision of a team runs under one lock per team (an advisory lock on
//! PostgreSQL; SQLite's writes are one at a time anyway), so concurrent tickets see each
//! other's assignments and an agent's capacity is never overrun.

use std::collections::HashMap;

use braid_core::routing::{self as rules, Candidate, Mode, OfflinePolicy, Presence};
use braid_core::{AgentId, EventKind, TeamId, TicketId, TicketStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::due_jobs;
use crate::events::{self, NewEvent};
use crate::schema::{agent_presence, agents, teams, ticket_routings, tickets};
use crate::tickets::Ticket;
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// The timer that re-queues an offline agent's tickets; its subject is the agent's id.
pub const REQUEUE: &str = "requeue";
/// The timer that routes the queues of an agent's teams when they come online.
pub const DRAIN: &str = "drain";
/// Tickets one re-queue or one drain moves at most; a timer comes back for the rest.
const BATCH: i64 = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentPresence {
    pub agent_id: AgentId,
    /// As it is now: a lapsed lease reads as `away`, then `offline`.
    pub status: Presence,
    /// What the agent last set.
    pub set_status: Presence,
    pub lease_until: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

type PresenceRow = (String, String, NaiveDateTime, NaiveDateTime);

fn presence_of_row(row: PresenceRow, now: DateTime<Utc>) -> Result<AgentPresence, DbError> {
    let (agent, status, lease, changed) = row;
    let set_status: Presence = status.parse()?;
    let lease_until = from_db(lease);
    Ok(AgentPresence {
        agent_id: agent.parse()?,
        status: rules::effective(set_status, lease_until, now),
        set_status,
        lease_until,
        changed_at: from_db(changed),
    })
}

const PRESENCE_COLUMNS: (
    agent_presence::agent_id,
    agent_presence::status,
    agent_presence::lease_until,
    agent_presence::changed_at,
) = (agent_presence::agent_id, agent_presence::status, agent_presence::lease_until, agent_presence::changed_at);

fn presence_of(conn: &mut DbConn, agents: &[String], now: DateTime<Utc>) -> Result<Vec<AgentPresence>, DbError> {
    agent_presence::table
        .filter(agent_presence::agent_id.eq_any(agents))
        .filter(dialect::planned_each_time())
        .select(PRESENCE_COLUMNS)
        .load::<PresenceRow>(conn)?
        .into_iter()
        .map(|row| presence_of_row(row, now))
        .collect()
}

/// Every agent's presence that was ever set (an agent never seen is offline).
pub fn list(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<AgentPresence>, DbError> {
    agent_presence::table
        .order(agent_presence::agent_id.asc())
        .select(PRESENCE_COLUMNS)
        .load::<PresenceRow>(conn)?
        .into_iter()
        .map(|row| presence_of_row(row, now))
        .collect()
}

/// A heartbeat: the lease runs another [`rules::LEASE`], with the status the agent sets
/// (`None` keeps the one set before; online for an agent never seen). A change of what
/// the agent is now is an event; coming online drains the queues of the agent's teams;
/// going offline starts the re-queue's grace period.
pub fn heartbeat(
    conn: &mut DbConn,
    agent: AgentId,
    status: Option<Presence>,
    now: DateTime<Utc>,
) -> Result<AgentPresence, DbError> {
    let id = agent.to_string();
    // Most heartbeats change nothing but the lease: while more than half of it is left,
    // they write nothing (a stream pings every 20 s; the lease is 90).
    if let Some(held) = presence_of(conn, std::slice::from_ref(&id), now)?.pop()
        && status.is_none_or(|s| s == held.set_status)
        && held.lease_until - now > rules::LEASE / 2
    {
        return Ok(held);
    }
    dialect::write_transaction(conn, |conn| {
        // One agent's heartbeats take turns (two sockets' first beats would both insert).
        dialect::lock_key(conn, &format!("presence:{id}"))?;
        let before = presence_of(conn, std::slice::from_ref(&id), now)?.pop();
        let was = before.as_ref().map_or(Presence::Offline, |p| p.status);
        let set = status.or(before.as_ref().map(|p| p.set_status)).unwrap_or(Presence::Online);
        let lease = now + rules::LEASE;
        let changed_at = match &before {
            Some(before) if before.set_status == set => before.changed_at,
            _ => now,
        };
        let values = (
            agent_presence::status.eq(set.as_str()),
            agent_presence::lease_until.eq(to_db(lease)),
            agent_presence::changed_at.eq(to_db(changed_at)),
        );
        let updated = diesel::update(agent_presence::table.find(&id)).set(values).execute(conn)?;
        if updated == 0 {
            diesel::insert_into(agent_presence::table)
                .values((agent_presence::agent_id.eq(&id), values))
                .execute(conn)?;
        }
        let now_is = rules::effective(set, lease, now);
        // The re-queue waits for the grace period after the agent is offline: set
        // offline now, or lapsed (away, then offline) should the heartbeats stop.
        let offline_at = if set == Presence::Offline { now } else { lease + rules::OFFLINE_AFTER_LAPSE };
        let grace = shortest_grace(conn, &id)?;
        due_jobs::schedule(conn, REQUEUE, &id, grace.map(|grace| offline_at + grace))?;
        let mut written = vec![];
        if now_is != was {
            let payload = serde_json::json!({ "agent_id": agent, "status": now_is, "lease_until": lease });
            written.push(NewEvent::new(EventKind::AgentPresenceChanged, agent, &payload, now)?);
        }
        events::append(conn, written)?;
        if now_is == Presence::Online && was != Presence::Online {
            // The team queues are routed by a timer, a ticket per transaction, each
            // taking its thread's lock before the team's as every ticket change does.
            due_jobs::schedule(conn, DRAIN, &id, Some(now))?;
        }
        Ok(AgentPresence { agent_id: agent, status: now_is, set_status: set, lease_until: lease, changed_at })
    })
}

/// The shortest grace period among the agent's teams that re-queue (`None`: none does).
fn shortest_grace(conn: &mut DbConn, agent: &str) -> Result<Option<chrono::Duration>, DbError> {
    use crate::schema::team_members;
    let theirs: Vec<String> =
        team_members::table.filter(team_members::agent_id.eq(agent)).select(team_members::team_id).load(conn)?;
    let routings: Vec<Option<String>> = teams::table
        .filter(teams::id.eq_any(&theirs))
        .filter(dialect::planned_each_time())
        .filter(teams::active.eq(true))
        .select(teams::routing)
        .load(conn)?;
    let mut shortest = None;
    for routing in routings.into_iter().flatten() {
        let routing: rules::Routing = serde_json::from_str(&routing)?;
        if routing.offline_policy != OfflinePolicy::Keep {
            let grace = chrono::Duration::minutes(routing.grace_minutes.into());
            shortest = Some(shortest.map_or(grace, |s: chrono::Duration| s.min(grace)));
        }
    }
    Ok(shortest)
}

const SETTINGS: &str = "routing";

/// The installation's routing settings (no default teams until an admin sets them).
pub fn settings(conn: &mut DbConn) -> Result<rules::RoutingSettings, DbError> {
    crate::settings::get(conn, SETTINGS)
}

/// Changes the routing settings; every default team must exist and be active.
pub fn change_settings(
    conn: &mut DbConn,
    change: impl FnOnce(rules::RoutingSettings) -> Result<rules::RoutingSettings, DbError>,
) -> Result<rules::RoutingSettings, DbError> {
    crate::settings::change(conn, SETTINGS, EventKind::RoutingSettingsUpdated, |conn, now| {
        let new = change(now)?;
        for (channel, team) in &new.default_teams {
            if !crate::teams::is_active(conn, *team)? {
                return Err(DbError::Invalid {
                    field: "default_teams".into(),
                    message: format!("{channel}: {team} is no active team"),
                });
            }
        }
        Ok(new)
    })
}

/// The team a new ticket on `channel` joins, when one is set and still active.
pub fn default_team(conn: &mut DbConn, channel: braid_core::Channel) -> Result<Option<TeamId>, DbError> {
    let Some(team) = settings(conn)?.default_teams.get(&channel).copied() else { return Ok(None) };
    Ok(crate::teams::is_active(conn, team)?.then_some(team))
}

/// Why a routing ran, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Created,
    TeamChanged,
    Reopened,
    AgentOffline,
    AgentOnline,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Created => "created",
            Trigger::TeamChanged => "team_changed",
            Trigger::Reopened => "reopened",
            Trigger::AgentOffline => "agent_offline",
            Trigger::AgentOnline => "agent_online",
        }
    }
}

/// One decision, as `GET /v1/tickets/{id}/routing` lists it and `ticket.routed` carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Routed {
    pub id: String,
    pub ticket_id: TicketId,
    pub team_id: Option<TeamId>,
    pub agent_id: Option<AgentId>,
    pub previous_agent_id: Option<AgentId>,
    pub mode: String,
    pub trigger: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Routes `ticket` (locked by the caller, in its transaction) through its team, unless the
/// team routes by hand. Returns the events to append: `ticket.updated` when the assignee
/// changed, then `ticket.routed`. Nobody available leaves the ticket unassigned in the
/// team's queue, with the reason recorded.
pub fn route(
    conn: &mut DbConn,
    ticket: &Ticket,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, DbError> {
    let Some(team_id) = ticket.team_id else { return Ok(vec![]) };
    let team = crate::teams::get(conn, team_id)?;
    if team.routing.mode == Mode::Manual || !team.active {
        return Ok(vec![]);
    }
    dialect::lock_key(conn, &format!("routing:{team_id}"))?;
    let last: Option<String> =
        teams::table.find(team_id.to_string()).select(teams::last_routed_agent_id).first(conn)?;
    let excluded = match trigger {
        Trigger::AgentOffline | Trigger::Reopened => ticket.assignee_id,
        _ => None,
    };
    let candidates = candidates(conn, &team.member_ids, ticket.channel, now)?;
    let decision =
        rules::choose(&team.routing, ticket.channel, &candidates, last.map(|a| a.parse()).transpose()?, excluded);
    if let Some(agent) = decision.agent {
        diesel::update(teams::table.find(team_id.to_string()))
            .set(teams::last_routed_agent_id.eq(agent.to_string()))
            .execute(conn)?;
    }
    // A ticket taken from someone (offline, or reopened while away) that nobody can take
    // goes back to the queue rather than stay with them.
    let assignee = match (decision.agent, excluded) {
        (Some(agent), _) => Some(agent),
        (None, Some(_)) => None,
        (None, None) => ticket.assignee_id,
    };
    record(conn, ticket, team.routing.mode.as_str(), trigger, assignee, &decision.reason, now)
}

/// Writes the decision (and the new assignee, when it changes) and returns its events.
fn record(
    conn: &mut DbConn,
    ticket: &Ticket,
    mode: &str,
    trigger: Trigger,
    assignee: Option<AgentId>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, DbError> {
    let mut written = vec![];
    if assignee != ticket.assignee_id {
        diesel::update(tickets::table.find(ticket.id.to_string()))
            .set((
                tickets::assignee_id.eq(assignee.map(|a| a.to_string())),
                tickets::version.eq(tickets::version + 1),
                tickets::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        written.push(crate::tickets::event(EventKind::TicketUpdated, &crate::tickets::get(conn, ticket.id)?)?);
    }
    let routed = Routed {
        id: uuid::Uuid::now_v7().to_string(),
        ticket_id: ticket.id,
        team_id: ticket.team_id,
        agent_id: assignee,
        previous_agent_id: ticket.assignee_id,
        mode: mode.to_owned(),
        trigger: trigger.as_str().to_owned(),
        reason: reason.to_owned(),
        at: now,
    };
    diesel::insert_into(ticket_routings::table)
        .values((
            ticket_routings::id.eq(&routed.id),
            ticket_routings::ticket_id.eq(ticket.id.to_string()),
            ticket_routings::team_id.eq(ticket.team_id.map(|t| t.to_string())),
            ticket_routings::agent_id.eq(assignee.map(|a| a.to_string())),
            ticket_routings::previous_agent_id.eq(ticket.assignee_id.map(|a| a.to_string())),
            ticket_routings::mode.eq(mode),
            ticket_routings::trigger.eq(trigger.as_str()),
            ticket_routings::reason.eq(reason),
            ticket_routings::at.eq(to_db(now)),
        ))
        .execute(conn)?;
    written.push(
        NewEvent::new(EventKind::TicketRouted, ticket.id, &routed, now)?.customer(ticket.customer_id).ticket(ticket.id),
    );
    Ok(written)
}

/// The team's active members, in member order, with their presence and load.
fn candidates(
    conn: &mut DbConn,
    members: &[AgentId],
    channel: braid_core::Channel,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, DbError> {
    let ids: Vec<String> = members.iter().map(AgentId::to_string).collect();
    let active: Vec<String> = agents::table
        .filter(agents::id.eq_any(&ids))
        .filter(dialect::planned_each_time())
        .filter(agents::active.eq(true))
        .select(agents::id)
        .load(conn)?;
    let presence: HashMap<AgentId, Presence> =
        presence_of(conn, &active, now)?.into_iter().map(|p| (p.agent_id, p.status)).collect();
    let unsolved = [TicketStatus::Open, TicketStatus::Pending, TicketStatus::OnHold].map(TicketStatus::as_str);
    let loads: Vec<(Option<String>, String, i64)> = tickets::table
        .filter(tickets::assignee_id.eq_any(&active))
        .filter(dialect::planned_each_time())
        .filter(tickets::status.eq_any(unsolved))
        .group_by((tickets::assignee_id, tickets::channel))
        .select((tickets::assignee_id, tickets::channel, diesel::dsl::count_star()))
        .load(conn)?;
    let (mut on_channel, mut total) = (HashMap::<String, u32>::new(), HashMap::<String, u32>::new());
    for (agent, on, count) in loads {
        let (Some(agent), count) = (agent, u32::try_from(count).unwrap_or(u32::MAX)) else { continue };
        if on == channel.as_str() {
            *on_channel.entry(agent.clone()).or_default() += count;
        }
        *total.entry(agent).or_default() += count;
    }
    Ok(members
        .iter()
        .filter(|m| active.contains(&m.to_string()))
        .map(|agent| Candidate {
            agent: *agent,
            presence: presence.get(agent).copied().unwrap_or(Presence::Offline),
            load: on_channel.get(&agent.to_string()).copied().unwrap_or(0),
            total_load: total.get(&agent.to_string()).copied().unwrap_or(0),
        })
        .collect())
}

/// A ticket changed (in its writer's transaction, under its lock): route it when it
/// joined a routing team unassigned, or reopened while its assignee is not online.
/// `before` is the status and team the ticket had (`None`: it is new).
pub(crate) fn on_ticket_change(
    conn: &mut DbConn,
    before: Option<(TicketStatus, Option<TeamId>)>,
    after: &Ticket,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, DbError> {
    let reopened = before.is_some_and(|(status, _)| !status.is_unsolved()) && after.status.is_unsolved();
    // Reopened in a team that routes, while its assignee is offline (by their presence:
    // an installation that never uses presence keeps its assignees): routed again.
    if reopened && let (Some(assignee), Some(team)) = (after.assignee_id, after.team_id) {
        let Some(present) = presence_of(conn, &[assignee.to_string()], now)?.pop() else { return Ok(vec![]) };
        if present.status != Presence::Offline || crate::teams::get(conn, team)?.routing.mode == Mode::Manual {
            return Ok(vec![]);
        }
        return route(conn, after, Trigger::Reopened, now);
    }
    let joined = after.team_id.is_some() && before.is_none_or(|(_, team)| team != after.team_id);
    if joined && after.assignee_id.is_none() && after.status.is_unsolved() {
        let trigger = if before.is_none() { Trigger::Created } else { Trigger::TeamChanged };
        return route(conn, after, trigger, now);
    }
    Ok(vec![])
}

/// An agent came online: the queues of their teams that route (unassigned, unsolved
/// tickets, oldest first) are routed again, each ticket in its own transaction, until a
/// team's decision finds nobody able to take more.
pub fn drain(conn: &mut DbConn, job: &due_jobs::Due, now: DateTime<Utc>) -> Result<usize, DbError> {
    use crate::schema::team_members;
    due_jobs::schedule(conn, DRAIN, &job.subject, None)?;
    let team_ids: Vec<String> =
        team_members::table.filter(team_members::agent_id.eq(&job.subject)).select(team_members::team_id).load(conn)?;
    let unsolved = [TicketStatus::Open, TicketStatus::Pending, TicketStatus::OnHold].map(TicketStatus::as_str);
    let mut routed = 0;
    for team_id in team_ids {
        let team = crate::teams::get(conn, team_id.parse()?)?;
        if team.routing.mode == Mode::Manual || !team.active {
            continue;
        }
        let mut after: Option<(NaiveDateTime, String)> = None;
        'team: loop {
            let mut page = tickets::table
                .filter(tickets::team_id.eq(&team_id))
                .filter(tickets::assignee_id.is_null())
                .filter(tickets::status.eq_any(unsolved))
                .order((tickets::created_at.asc(), tickets::id.asc()))
                .limit(BATCH)
                .select((tickets::id, tickets::created_at))
                .into_boxed();
            if let Some((at, id)) = &after {
                page = page.filter(
                    tickets::created_at.ge(*at).and(tickets::created_at.gt(*at).or(tickets::id.gt(id.clone()))),
                );
            }
            let queued: Vec<(String, NaiveDateTime)> = page.load(conn)?;
            for (id, at) in &queued {
                let taken = dialect::write_transaction(conn, |conn| -> Result<bool, DbError> {
                    let ticket = crate::follow_ups::lock_ticket(conn, id.parse()?)?;
                    if ticket.assignee_id.is_some() || !ticket.status.is_unsolved() || ticket.team_id != Some(team.id) {
                        return Ok(true);
                    }
                    let written = route(conn, &ticket, Trigger::AgentOnline, now)?;
                    let taken = crate::tickets::get(conn, ticket.id)?.assignee_id.is_some();
                    // Nobody could take it: nothing changed, so nothing is recorded again.
                    if taken {
                        events::append(conn, written)?;
                    } else {
                        return Err(DbError::Refused("nobody can take more".into()));
                    }
                    Ok(taken)
                });
                match taken {
                    Ok(true) => routed += 1,
                    Ok(false) | Err(DbError::Refused(_)) => break 'team,
                    Err(other) => return Err(other),
                }
                after = Some((*at, id.clone()));
            }
            if (queued.len() as i64) < BATCH {
                break;
            }
        }
    }
    Ok(routed)
}

/// The re-queue timer: an agent offline past their teams' grace has their open tickets
/// (the ones waiting on us) reassigned or unassigned as each ticket's team says, each in
/// its own transaction under its thread's lock. An agent back online keeps them.
pub fn requeue(conn: &mut DbConn, job: &due_jobs::Due, now: DateTime<Utc>) -> Result<usize, DbError> {
    due_jobs::schedule(conn, REQUEUE, &job.subject, None)?;
    let offline_since = |conn: &mut DbConn| -> Result<Option<DateTime<Utc>>, DbError> {
        let Some(presence) = presence_of(conn, std::slice::from_ref(&job.subject), now)?.pop() else { return Ok(None) };
        Ok((presence.status == Presence::Offline).then(|| match presence.set_status {
            Presence::Offline => presence.changed_at,
            _ => presence.lease_until + rules::OFFLINE_AFTER_LAPSE,
        }))
    };
    if offline_since(conn)?.is_none() {
        return Ok(0);
    }
    let (mut moved, mut later, mut after) = (0, None::<DateTime<Utc>>, None::<(NaiveDateTime, String)>);
    loop {
        let mut page = tickets::table
            .filter(tickets::assignee_id.eq(&job.subject))
            .filter(tickets::status.eq(TicketStatus::Open.as_str()))
            .order((tickets::created_at.asc(), tickets::id.asc()))
            .limit(BATCH)
            .select((tickets::id, tickets::created_at))
            .into_boxed();
        if let Some((at, id)) = &after {
            page = page
                .filter(tickets::created_at.ge(*at).and(tickets::created_at.gt(*at).or(tickets::id.gt(id.clone()))));
        }
        let theirs: Vec<(String, NaiveDateTime)> = page.load(conn)?;
        for (id, at) in &theirs {
            after = Some((*at, id.clone()));
            let done =
                dialect::write_transaction(conn, |conn| -> Result<Option<Result<(), DateTime<Utc>>>, DbError> {
                    let ticket = crate::follow_ups::lock_ticket(conn, id.parse()?)?;
                    // Checked again under the lock: back online, or the ticket moved on.
                    let Some(offline_at) = offline_since(conn)? else { return Ok(None) };
                    let still_theirs =
                        ticket.assignee_id.map(|a| a.to_string()).as_deref() == Some(job.subject.as_str());
                    let Some(team) = ticket.team_id.filter(|_| still_theirs && ticket.status == TicketStatus::Open)
                    else {
                        return Ok(None);
                    };
                    let routing = crate::teams::get(conn, team)?.routing;
                    let due = offline_at + chrono::Duration::minutes(routing.grace_minutes.into());
                    if due > now {
                        return Ok(Some(Err(due)));
                    }
                    let written = match routing.offline_policy {
                        OfflinePolicy::Keep => return Ok(None),
                        OfflinePolicy::Reassign if routing.mode != Mode::Manual => {
                            route(conn, &ticket, Trigger::AgentOffline, now)?
                        }
                        OfflinePolicy::Reassign | OfflinePolicy::Unassign => {
                            let grace = routing.grace_minutes;
                            let reason =
                                format!("the assignee was offline for more than {grace} minutes: back to the queue");
                            record(conn, &ticket, routing.mode.as_str(), Trigger::AgentOffline, None, &reason, now)?
                        }
                    };
                    events::append(conn, written)?;
                    Ok(Some(Ok(())))
                })?;
            match done {
                Some(Ok(())) => moved += 1,
                Some(Err(due)) => later = Some(later.map_or(due, |l| l.min(due))),
                None => {}
            }
        }
        if (theirs.len() as i64) < BATCH {
            break;
        }
    }
    if let Some(next) = later {
        due_jobs::schedule(conn, REQUEUE, &job.subject, Some(next))?;
    }
    Ok(moved)
}

/// A ticket's routing decisions, oldest first.
pub fn of_ticket(conn: &mut DbConn, ticket: TicketId) -> Result<Vec<Routed>, DbError> {
    type Row = (String, String, Option<String>, Option<String>, Option<String>, String, String, String, NaiveDateTime);
    let rows: Vec<Row> = ticket_routings::table
        .filter(ticket_routings::ticket_id.eq(ticket.to_string()))
        .order((ticket_routings::at.asc(), ticket_routings::id.asc()))
        .select((
            ticket_routings::id,
            ticket_routings::ticket_id,
            ticket_routings::team_id,
            ticket_routings::agent_id,
            ticket_routings::previous_agent_id,
            ticket_routings::mode,
            ticket_routings::trigger,
            ticket_routings::reason,
            ticket_routings::at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, ticket, team, agent, previous, mode, trigger, reason, at)| {
            Ok(Routed {
                id,
                ticket_id: ticket.parse()?,
                team_id: team.map(|t| t.parse()).transpose()?,
                agent_id: agent.map(|a| a.parse()).transpose()?,
                previous_agent_id: previous.map(|a| a.parse()).transpose()?,
                mode,
                trigger,
                reason,
                at: from_db(at),
            })
        })
        .collect()
}
