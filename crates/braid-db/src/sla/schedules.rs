//! Business-hours schedules and their versions. An edit adds a version valid from the
//! edit on; the versions before it keep counting the time they covered.

use braid_core::schedule::{Calendar, Schedule as Hours, ScheduleDefinition};
use braid_core::{EventKind, ScheduleId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, NewEvent};
use crate::schema::{schedule_versions, schedules};
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// Versions one schedule keeps at most; an edit past it is refused (make a new schedule).
pub const MAX_VERSIONS: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: ScheduleId,
    pub name: String,
    /// The current version's number, from 1.
    pub version: i32,
    /// The current definition.
    #[serde(flatten)]
    pub definition: ScheduleDefinition,
    /// When the current definition took effect.
    pub valid_from: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One version of a schedule, as it applied from `valid_from`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub version: i32,
    pub valid_from: DateTime<Utc>,
    #[serde(flatten)]
    pub definition: ScheduleDefinition,
}

pub fn create(conn: &mut DbConn, name: &str, definition: &ScheduleDefinition) -> Result<Schedule, DbError> {
    dialect::write_transaction(conn, |conn| {
        let (id, at) = (ScheduleId::new(), crate::now());
        diesel::insert_into(schedules::table)
            .values((
                schedules::id.eq(id.to_string()),
                schedules::name.eq(name),
                schedules::created_at.eq(to_db(at)),
                schedules::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        add_version(conn, id, 1, at, definition)?;
        let schedule = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::ScheduleCreated, id, &schedule, at)?])?;
        Ok(schedule)
    })
}

fn add_version(
    conn: &mut DbConn,
    id: ScheduleId,
    version: i32,
    at: DateTime<Utc>,
    definition: &ScheduleDefinition,
) -> Result<(), DbError> {
    diesel::insert_into(schedule_versions::table)
        .values((
            schedule_versions::schedule_id.eq(id.to_string()),
            schedule_versions::version.eq(version),
            schedule_versions::valid_from.eq(to_db(at)),
            schedule_versions::definition.eq(serde_json::to_string(definition)?),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: ScheduleId) -> Result<Schedule, DbError> {
    let (name, created_at, updated_at): (String, NaiveDateTime, NaiveDateTime) = schedules::table
        .find(id.to_string())
        .select((schedules::name, schedules::created_at, schedules::updated_at))
        .first(conn)?;
    let current = versions(conn, id)?.pop().ok_or(DbError::NotFound)?;
    Ok(Schedule {
        id,
        name,
        version: current.version,
        definition: current.definition,
        valid_from: current.valid_from,
        created_at: from_db(created_at),
        updated_at: from_db(updated_at),
    })
}

/// Every version, oldest first.
pub fn versions(conn: &mut DbConn, id: ScheduleId) -> Result<Vec<Version>, DbError> {
    let rows: Vec<(i32, NaiveDateTime, String)> = schedule_versions::table
        .filter(schedule_versions::schedule_id.eq(id.to_string()))
        .order(schedule_versions::version.asc())
        .select((schedule_versions::version, schedule_versions::valid_from, schedule_versions::definition))
        .load(conn)?;
    rows.into_iter()
        .map(|(version, valid_from, definition)| {
            Ok(Version { version, valid_from: from_db(valid_from), definition: serde_json::from_str(&definition)? })
        })
        .collect()
}

/// The schedule's versions as one calendar, for the arithmetic.
pub fn calendar(conn: &mut DbConn, id: ScheduleId) -> Result<Option<Calendar>, DbError> {
    let versions = versions(conn, id)?
        .into_iter()
        .map(|version| {
            let hours = Hours::new(version.definition)
                .map_err(|e| DbError::Invalid { field: e.field.to_owned(), message: e.message })?;
            Ok((version.valid_from, hours))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Calendar::new(versions))
}

/// Every schedule, oldest first (an installation has a handful).
pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Schedule>, DbError> {
    let ids: Vec<String> = schedules::table
        .order((schedules::created_at.asc(), schedules::id.asc()))
        .limit(limit)
        .select(schedules::id)
        .load(conn)?;
    ids.into_iter().map(|id| get(conn, id.parse()?)).collect()
}

/// Renames the schedule and, when `definition` differs from the current one, adds a
/// version valid from now.
pub fn update(
    conn: &mut DbConn,
    id: ScheduleId,
    name: Option<&str>,
    definition: Option<&ScheduleDefinition>,
) -> Result<Schedule, DbError> {
    dialect::write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        let at = crate::now();
        let new_version = definition.filter(|definition| **definition != before.definition);
        if name.is_none_or(|name| name == before.name) && new_version.is_none() {
            return Ok(before);
        }
        if let Some(definition) = new_version {
            if i64::from(before.version) >= MAX_VERSIONS {
                return Err(DbError::OverLimit { field: "versions", max: MAX_VERSIONS as usize });
            }
            add_version(conn, id, before.version + 1, at.max(before.valid_from), definition)?;
            super::recheck(conn, None, Some(id))?;
        }
        diesel::update(schedules::table.find(id.to_string()))
            .set((name.map(|name| schedules::name.eq(name.to_owned())), schedules::updated_at.eq(to_db(at))))
            .execute(conn)?;
        let schedule = get(conn, id)?;
        events::append(conn, vec![NewEvent::new(EventKind::ScheduleUpdated, id, &schedule, at)?])?;
        Ok(schedule)
    })
}
