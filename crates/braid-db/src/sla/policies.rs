//! SLA policies: ordered by position; the first enabled one covering a ticket applies.

use braid_core::sla::{Conditions, PolicyDefinition, Targets};
use braid_core::{EventKind, ScheduleId, SlaPolicyId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::events::{self, NewEvent};
use crate::schema::{schedules, sla_policies};
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// Policies an installation keeps at most: each is tried in order on every ticket change.
pub const MAX_POLICIES: i64 = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: SlaPolicyId,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    #[serde(flatten)]
    pub definition: PolicyDefinition,
    /// Bumped by every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sla_policies)]
struct Row {
    id: String,
    name: String,
    position: i32,
    enabled: bool,
    conditions: String,
    schedule_id: Option<String>,
    targets: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<Row> for Policy {
    type Error = DbError;

    fn try_from(row: Row) -> Result<Self, DbError> {
        Ok(Policy {
            id: row.id.parse()?,
            name: row.name,
            position: row.position,
            enabled: row.enabled,
            definition: PolicyDefinition {
                conditions: serde_json::from_str::<Conditions>(&row.conditions)?,
                schedule_id: row.schedule_id.map(|id| id.parse()).transpose()?,
                targets: serde_json::from_str::<Targets>(&row.targets)?,
            },
            version: row.version,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

/// A schedule a policy names must exist.
fn check_schedule(conn: &mut DbConn, schedule: Option<ScheduleId>) -> Result<(), DbError> {
    let Some(schedule) = schedule else { return Ok(()) };
    let found: i64 = schedules::table.filter(schedules::id.eq(schedule.to_string())).count().get_result(conn)?;
    if found == 0 {
        return Err(DbError::Invalid { field: "schedule_id".into(), message: format!("no schedule {schedule}") });
    }
    Ok(())
}

pub fn create(
    conn: &mut DbConn,
    name: &str,
    position: i32,
    enabled: bool,
    definition: &PolicyDefinition,
) -> Result<Policy, DbError> {
    dialect::write_transaction(conn, |conn| {
        let count: i64 = sla_policies::table.count().get_result(conn)?;
        if count >= MAX_POLICIES {
            return Err(DbError::OverLimit { field: "sla_policies", max: MAX_POLICIES as usize });
        }
        check_schedule(conn, definition.schedule_id)?;
        let (id, at) = (SlaPolicyId::new(), crate::now());
        diesel::insert_into(sla_policies::table)
            .values((
                sla_policies::id.eq(id.to_string()),
                sla_policies::name.eq(name),
                sla_policies::position.eq(position),
                sla_policies::enabled.eq(enabled),
                sla_policies::conditions.eq(serde_json::to_string(&definition.conditions)?),
                sla_policies::schedule_id.eq(definition.schedule_id.map(|id| id.to_string())),
                sla_policies::targets.eq(serde_json::to_string(&definition.targets)?),
                sla_policies::version.eq(1),
                sla_policies::created_at.eq(to_db(at)),
                sla_policies::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        let policy = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::SlaPolicyCreated, id, &policy, at)?])?;
        Ok(policy)
    })
}

pub fn get(conn: &mut DbConn, id: SlaPolicyId) -> Result<Policy, DbError> {
    sla_policies::table.find(id.to_string()).select(Row::as_select()).first(conn)?.try_into()
}

/// Every policy in the order they are tried.
pub fn list(conn: &mut DbConn) -> Result<Vec<Policy>, DbError> {
    sla_policies::table
        .order((sla_policies::position.asc(), sla_policies::created_at.asc(), sla_policies::id.asc()))
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Policy::try_from)
        .collect()
}

/// The enabled policies in the order they are tried.
pub fn enabled(conn: &mut DbConn) -> Result<Vec<Policy>, DbError> {
    sla_policies::table
        .filter(sla_policies::enabled.eq(true))
        .order((sla_policies::position.asc(), sla_policies::created_at.asc(), sla_policies::id.asc()))
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Policy::try_from)
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    pub conditions: Option<Conditions>,
    /// `Some(None)` removes it.
    pub schedule_id: Option<Option<ScheduleId>>,
    pub targets: Option<Targets>,
}

/// Applies `changes` (checked together with what stays) and records the new version.
pub fn update(conn: &mut DbConn, id: SlaPolicyId, changes: &Changes) -> Result<Policy, DbError> {
    dialect::write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        let definition = PolicyDefinition {
            conditions: changes.conditions.clone().unwrap_or(before.definition.conditions.clone()),
            schedule_id: changes.schedule_id.unwrap_or(before.definition.schedule_id),
            targets: changes.targets.clone().unwrap_or(before.definition.targets.clone()),
        };
        definition.check().map_err(|e| DbError::Invalid { field: e.field.to_owned(), message: e.message })?;
        check_schedule(conn, definition.schedule_id)?;
        let at = crate::now();
        // Guarded by the version read: of two concurrent edits, the second is refused
        // rather than silently undoing the first.
        let updated =
            diesel::update(sla_policies::table.find(id.to_string()).filter(sla_policies::version.eq(before.version)))
                .set((
                    sla_policies::name.eq(changes.name.clone().unwrap_or(before.name.clone())),
                    sla_policies::position.eq(changes.position.unwrap_or(before.position)),
                    sla_policies::enabled.eq(changes.enabled.unwrap_or(before.enabled)),
                    sla_policies::conditions.eq(serde_json::to_string(&definition.conditions)?),
                    sla_policies::schedule_id.eq(definition.schedule_id.map(|id| id.to_string())),
                    sla_policies::targets.eq(serde_json::to_string(&definition.targets)?),
                    sla_policies::version.eq(before.version + 1),
                    sla_policies::updated_at.eq(to_db(at)),
                ))
                .execute(conn)?;
        if updated == 0 {
            return Err(DbError::Refused("the policy changed meanwhile; read it again".into()));
        }
        super::recheck(conn, Some(id), None)?;
        let policy = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::SlaPolicyUpdated, id, &policy, at)?])?;
        Ok(policy)
    })
}
