//! Agents: the people who work tickets, and their credentials.

use braid_core::{AgentId, AgentName, EmailAddress, EventKind, Role};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::schema::agents;
use crate::{Cursor, Page};
use crate::{DbConn, DbError, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    pub id: AgentId,
    pub email: EmailAddress,
    pub name: AgentName,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = agents)]
pub(crate) struct AgentRow {
    id: String,
    email: String,
    name: String,
    role: String,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<AgentRow> for Agent {
    type Error = DbError;

    fn try_from(row: AgentRow) -> Result<Self, DbError> {
        Ok(Agent {
            id: row.id.parse()?,
            email: EmailAddress::parse(&row.email)?,
            name: AgentName::parse(&row.name)?,
            role: row.role.parse()?,
            active: row.active,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

pub fn count(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(agents::table.count().get_result(conn)?)
}

pub fn find_by_email(conn: &mut DbConn, email: &EmailAddress) -> Result<Option<Agent>, DbError> {
    agents::table
        .filter(agents::email.eq(email.as_str()))
        .select(AgentRow::as_select())
        .first(conn)
        .optional()?
        .map(Agent::try_from)
        .transpose()
}

/// The stored password hash of an active agent, for login.
pub fn password_hash(conn: &mut DbConn, email: &EmailAddress) -> Result<Option<(AgentId, String)>, DbError> {
    let row: Option<(String, String)> = agents::table
        .filter(agents::email.eq(email.as_str()).and(agents::active.eq(true)))
        .select((agents::id, agents::password_hash))
        .first(conn)
        .optional()?;
    row.map(|(id, hash)| Ok((id.parse()?, hash))).transpose()
}

/// Whether `admin create` made a new agent or reset an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Reset,
}

/// Creates an admin, or makes an existing agent with that email an active admin with the
/// given password. Used by `braid admin create`.
pub fn upsert_admin(
    conn: &mut DbConn,
    email: &EmailAddress,
    name: &AgentName,
    password_hash: &str,
) -> Result<(Agent, Upserted), DbError> {
    dialect::write_transaction(conn, |conn| {
        let now = crate::now();
        let Some(existing) = find_by_email(conn, email)? else {
            return insert_admin(conn, email, name, password_hash, now).map(|agent| (agent, Upserted::Created));
        };
        diesel::update(agents::table.find(existing.id.to_string()))
            .set((
                agents::name.eq(name.as_str()),
                agents::role.eq(Role::Admin.as_str()),
                agents::password_hash.eq(password_hash),
                agents::active.eq(true),
                agents::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        // A reset password ends every session, as a change through the API does.
        crate::auth::revoke_agent_sessions(conn, existing.id)?;
        let agent = get(conn, existing.id)?;
        events::append(conn, vec![NewEvent::new(EventKind::AgentUpdated, agent.id, &agent, now)?])?;
        Ok((agent, Upserted::Reset))
    })
}

/// Creates the first admin of an empty installation; `None` when any agent exists, also
/// when another node starting at the same moment got there first.
pub fn create_first_admin(
    conn: &mut DbConn,
    email: &EmailAddress,
    name: &AgentName,
    password_hash: &str,
) -> Result<Option<Agent>, DbError> {
    let created = dialect::write_transaction(conn, |conn| {
        if count(conn)? > 0 {
            return Ok(None);
        }
        insert_admin(conn, email, name, password_hash, crate::now()).map(Some)
    });
    match created {
        Err(DbError::Conflict(_)) => Ok(None),
        other => other,
    }
}

fn insert_admin(
    conn: &mut DbConn,
    email: &EmailAddress,
    name: &AgentName,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Agent, DbError> {
    let agent = Agent {
        id: AgentId::new(),
        email: email.clone(),
        name: name.clone(),
        role: Role::Admin,
        active: true,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(agents::table)
        .values((
            agents::id.eq(agent.id.to_string()),
            agents::email.eq(email.as_str()),
            agents::name.eq(name.as_str()),
            agents::role.eq(Role::Admin.as_str()),
            agents::password_hash.eq(password_hash),
            agents::active.eq(true),
            agents::created_at.eq(to_db(now)),
            agents::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    events::append(conn, vec![NewEvent::new(EventKind::AgentCreated, agent.id, &agent, now)?])?;
    Ok(agent)
}

pub fn get(conn: &mut DbConn, id: AgentId) -> Result<Agent, DbError> {
    agents::table.find(id.to_string()).select(AgentRow::as_select()).first(conn)?.try_into()
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub email: EmailAddress,
    pub name: AgentName,
    pub role: Role,
    pub password_hash: String,
}

/// Adds an agent. A taken email fails with [`DbError::Conflict`].
pub fn create(conn: &mut DbConn, new: &NewAgent) -> Result<Agent, DbError> {
    dialect::write_transaction(conn, |conn| {
        let now = crate::now();
        let id = AgentId::new();
        diesel::insert_into(agents::table)
            .values((
                agents::id.eq(id.to_string()),
                agents::email.eq(new.email.as_str()),
                agents::name.eq(new.name.as_str()),
                agents::role.eq(new.role.as_str()),
                agents::password_hash.eq(&new.password_hash),
                agents::active.eq(true),
                agents::created_at.eq(to_db(now)),
                agents::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        let agent = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::AgentCreated, agent.id, &agent, now)?])?;
        Ok(agent)
    })
}

/// Agents in the order they were added.
pub fn list(conn: &mut DbConn, after: Option<&Cursor>, limit: i64) -> Result<Page<Agent>, DbError> {
    let mut query =
        agents::table.select(AgentRow::as_select()).order((agents::created_at.asc(), agents::id.asc())).into_boxed();
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query =
            query.filter(agents::created_at.ge(at).and(agents::created_at.gt(at).or(agents::id.gt(cursor.id.clone()))));
    }
    let rows = query.limit(limit + 1).load(conn)?.into_iter().map(Agent::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, limit, |agent| Cursor { at: agent.created_at, id: agent.id.to_string() }))
}

/// What an update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    pub name: Option<AgentName>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
}

#[derive(AsChangeset)]
#[diesel(table_name = agents)]
struct AgentChangeset<'a> {
    name: Option<&'a str>,
    role: Option<&'a str>,
    password_hash: Option<&'a str>,
    active: Option<bool>,
    updated_at: NaiveDateTime,
}

/// Applies `changes`. Deactivating an agent, or changing their password, ends their
/// sessions. Fails with [`DbError::LastAdmin`] rather than leave no active admin.
pub fn update(conn: &mut DbConn, id: AgentId, changes: &AgentChanges) -> Result<Agent, DbError> {
    dialect::write_transaction(conn, |conn| {
        let now = crate::now();
        // Two admins demoting each other at once must not both succeed.
        dialect::lock_key(conn, "agents:admins")?;
        let before = get(conn, id)?;
        let demoted = changes.active == Some(false) || changes.role == Some(Role::Agent);
        if demoted && before.role == Role::Admin && before.active && other_active_admins(conn, id)? == 0 {
            return Err(DbError::LastAdmin);
        }
        diesel::update(agents::table.find(id.to_string()))
            .set(&AgentChangeset {
                name: changes.name.as_ref().map(AgentName::as_str),
                role: changes.role.map(Role::as_str),
                password_hash: changes.password_hash.as_deref(),
                active: changes.active,
                updated_at: to_db(now),
            })
            .execute(conn)?;
        let agent = get(conn, id)?;
        if changes.password_hash.is_some() || (before.active && !agent.active) {
            crate::auth::revoke_agent_sessions(conn, id)?;
        }
        events::append(conn, vec![NewEvent::new(EventKind::AgentUpdated, agent.id, &agent, now)?])?;
        Ok(agent)
    })
}

/// Active admins other than `except`.
fn other_active_admins(conn: &mut DbConn, except: AgentId) -> Result<i64, DbError> {
    Ok(agents::table
        .filter(
            agents::role.eq(Role::Admin.as_str()).and(agents::active.eq(true)).and(agents::id.ne(except.to_string())),
        )
        .count()
        .get_result(conn)?)
}
