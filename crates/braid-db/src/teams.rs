//! Teams: named groups of agents that tickets can be routed to.

use braid_core::follow_up::PendingRule;
use braid_core::routing::Routing;
use braid_core::{AgentId, AgentName, EventKind, TeamId};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::schema::{team_members, teams};
use crate::{Cursor, DbConn, DbError, Page, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Team {
    pub id: TeamId,
    pub name: AgentName,
    pub active: bool,
    pub member_ids: Vec<AgentId>,
    /// What happens to the team's tickets left pending (see `follow_ups`).
    pub pending_rule: Option<PendingRule>,
    /// How the team's tickets find an agent (see `routing`); `manual` when unset.
    pub routing: Routing,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = teams)]
struct TeamRow {
    id: String,
    name: String,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    pending_rule: Option<String>,
    routing: Option<String>,
}

impl TeamRow {
    fn into_team(self, member_ids: Vec<AgentId>) -> Result<Team, DbError> {
        Ok(Team {
            id: self.id.parse()?,
            name: AgentName::parse(&self.name)?,
            active: self.active,
            member_ids,
            pending_rule: self.pending_rule.map(|rule| serde_json::from_str(&rule)).transpose()?,
            routing: self.routing.map(|r| serde_json::from_str(&r)).transpose()?.unwrap_or_default(),
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

/// Members of each of `teams`, in one query.
fn members(conn: &mut DbConn, teams: &[String]) -> Result<HashMap<String, Vec<AgentId>>, DbError> {
    let rows: Vec<(String, String)> = team_members::table
        .filter(team_members::team_id.eq_any(teams))
        .filter(dialect::planned_each_time())
        .order((team_members::team_id.asc(), team_members::agent_id.asc()))
        .select((team_members::team_id, team_members::agent_id))
        .load(conn)?;
    let mut by_team: HashMap<String, Vec<AgentId>> = HashMap::new();
    for (team, agent) in rows {
        by_team.entry(team).or_default().push(agent.parse()?);
    }
    Ok(by_team)
}

pub fn get(conn: &mut DbConn, id: TeamId) -> Result<Team, DbError> {
    let row: TeamRow = teams::table.find(id.to_string()).select(TeamRow::as_select()).first(conn)?;
    let member_ids = members(conn, std::slice::from_ref(&row.id))?.remove(&row.id).unwrap_or_default();
    row.into_team(member_ids)
}

/// Whether the team exists and takes tickets.
pub fn is_active(conn: &mut DbConn, id: TeamId) -> Result<bool, DbError> {
    Ok(teams::table.find(id.to_string()).filter(teams::active.eq(true)).count().get_result::<i64>(conn)? > 0)
}

pub fn list(conn: &mut DbConn, after: Option<&Cursor>, limit: i64) -> Result<Page<Team>, DbError> {
    let mut query =
        teams::table.select(TeamRow::as_select()).order((teams::created_at.asc(), teams::id.asc())).into_boxed();
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query =
            query.filter(teams::created_at.ge(at).and(teams::created_at.gt(at).or(teams::id.gt(cursor.id.clone()))));
    }
    let rows: Vec<TeamRow> = query.limit(limit + 1).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut members = members(conn, &ids)?;
    let teams = rows
        .into_iter()
        .map(|row| {
            let member_ids = members.remove(&row.id).unwrap_or_default();
            row.into_team(member_ids)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(teams, limit, |team| Cursor { at: team.created_at, id: team.id.to_string() }))
}

/// What a create or update sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<AgentName>,
    pub active: Option<bool>,
    /// Replaces the members when given.
    pub member_ids: Option<Vec<AgentId>>,
    /// `Some(None)` removes it.
    pub pending_rule: Option<Option<PendingRule>>,
    pub routing: Option<Routing>,
}

pub fn create(
    conn: &mut DbConn,
    name: &AgentName,
    member_ids: &[AgentId],
    pending_rule: Option<&PendingRule>,
    routing: Option<&Routing>,
) -> Result<Team, DbError> {
    dialect::write_transaction(conn, |conn| {
        let now = crate::now();
        let id = TeamId::new();
        diesel::insert_into(teams::table)
            .values((
                teams::id.eq(id.to_string()),
                teams::name.eq(name.as_str()),
                teams::active.eq(true),
                teams::pending_rule.eq(pending_rule.map(serde_json::to_string).transpose()?),
                teams::routing.eq(routing.map(serde_json::to_string).transpose()?),
                teams::created_at.eq(to_db(now)),
                teams::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        set_members(conn, id, member_ids)?;
        let team = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::TeamCreated, team.id, &team, now)?])?;
        Ok(team)
    })
}

#[derive(AsChangeset)]
#[diesel(table_name = teams)]
struct TeamChangeset<'a> {
    name: Option<&'a str>,
    active: Option<bool>,
    pending_rule: Option<Option<String>>,
    routing: Option<String>,
    updated_at: NaiveDateTime,
}

pub fn update(conn: &mut DbConn, id: TeamId, changes: &TeamChanges) -> Result<Team, DbError> {
    dialect::write_transaction(conn, |conn| {
        let now = crate::now();
        get(conn, id)?;
        diesel::update(teams::table.find(id.to_string()))
            .set(&TeamChangeset {
                name: changes.name.as_ref().map(AgentName::as_str),
                active: changes.active,
                pending_rule: changes
                    .pending_rule
                    .as_ref()
                    .map(|r| r.as_ref().map(serde_json::to_string).transpose())
                    .transpose()?,
                routing: changes.routing.as_ref().map(serde_json::to_string).transpose()?,
                updated_at: to_db(now),
            })
            .execute(conn)?;
        if let Some(member_ids) = &changes.member_ids {
            set_members(conn, id, member_ids)?;
        }
        let team = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::TeamUpdated, team.id, &team, now)?])?;
        Ok(team)
    })
}

fn set_members(conn: &mut DbConn, team: TeamId, member_ids: &[AgentId]) -> Result<(), DbError> {
    diesel::delete(team_members::table.filter(team_members::team_id.eq(team.to_string()))).execute(conn)?;
    let mut unique = member_ids.to_vec();
    unique.sort();
    unique.dedup();
    for agent in unique {
        diesel::insert_into(team_members::table)
            .values((team_members::team_id.eq(team.to_string()), team_members::agent_id.eq(agent.to_string())))
            .execute(conn)?;
    }
    Ok(())
}
