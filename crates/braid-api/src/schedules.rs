//! Business-hours schedules (admins write, agents read): a time zone, working windows per
//! weekday and holidays. An edit adds a version valid from then on; clocks keep counting
//! the time before it with the hours as they were.

use actix_web::{HttpResponse, get, patch, post, web};
use braid_core::schedule::{Schedule as Hours, ScheduleDefinition, Week};
use braid_core::{ScheduleId, Scope};
use braid_db::sla::schedules::{self, Schedule, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::{ApiError, AppState, Principal};

/// A working window, `start` up to `end`: wall-clock `HH:MM` in the schedule's zone
/// (`24:00` ends at midnight).
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    #[schema(example = "17:00", pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub end: String,
}

/// Each weekday's working windows, in order and not overlapping (at most 8); a day left
/// out is not worked.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeekView {
    #[schema(max_items = 8)]
    pub monday: Option<Vec<WindowView>>,
    #[schema(max_items = 8)]
    pub tuesday: Option<Vec<WindowView>>,
    #[schema(max_items = 8)]
    pub wednesday: Option<Vec<WindowView>>,
    #[schema(max_items = 8)]
    pub thursday: Option<Vec<WindowView>>,
    #[schema(max_items = 8)]
    pub friday: Option<Vec<WindowView>>,
    #[schema(max_items = 8)]
    pub saturday: Option<Vec<WindowView>>,
    #[schema(max_items = 8)]
    pub sunday: Option<Vec<WindowView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    #[schema(value_type = String, format = Uuid)]
    pub id: ScheduleId,
    pub name: String,
    /// The current version, from 1; each change of hours, zone or holidays adds one.
    pub version: i32,
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    #[schema(value_type = WeekView)]
    pub hours: Week,
    /// Days off, `YYYY-MM-DD` in the schedule's zone.
    #[schema(example = json!(["2026-12-25"]))]
    pub holidays: Vec<String>,
    /// When the current version took effect.
    pub valid_from: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        Self {
            id: s.id,
            name: s.name,
            version: s.version,
            time_zone: s.definition.time_zone,
            hours: s.definition.hours,
            holidays: s.definition.holidays,
            valid_from: s.valid_from,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// One version of a schedule and when it took effect.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleVersionView {
    pub version: i32,
    pub valid_from: DateTime<Utc>,
    pub time_zone: String,
    #[schema(value_type = WeekView)]
    pub hours: Week,
    pub holidays: Vec<String>,
}

impl From<Version> for ScheduleVersionView {
    fn from(v: Version) -> Self {
        Self {
            version: v.version,
            valid_from: v.valid_from,
            time_zone: v.definition.time_zone,
            hours: v.definition.hours,
            holidays: v.definition.holidays,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Berlin office", "time_zone": "Europe/Berlin", "hours": {"monday": [{"start": "09:00", "end": "12:30"}, {"start": "13:30", "end": "18:00"}], "friday": [{"start": "09:00", "end": "15:00"}]}, "holidays": ["2026-12-25", "2026-12-26"]}))]
pub struct NewScheduleBody {
    pub name: String,
    /// An IANA time zone.
    pub time_zone: String,
    #[schema(value_type = WeekView)]
    pub hours: Week,
    /// At most 400.
    #[serde(default)]
    #[schema(max_items = 400)]
    pub holidays: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"holidays": ["2026-12-24", "2026-12-25", "2026-12-26"]}))]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    #[schema(value_type = Option<WeekView>)]
    pub hours: Option<Week>,
    #[schema(max_items = 400)]
    pub holidays: Option<Vec<String>>,
}

fn checked(definition: ScheduleDefinition) -> Result<ScheduleDefinition, ApiError> {
    Ok(Hours::new(definition)?.definition().clone())
}

fn not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("schedule with this id"),
        other => other.into(),
    }
}

/// Create a business-hours schedule.
#[utoipa::path(
    tag = "sla",
    operation_id = "createSchedule",
    request_body = NewScheduleBody,
    responses((status = 201, description = "Created.", body = ScheduleView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[post("/v1/schedules")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let name = braid_core::text::label("name", &body.name)?;
    let definition =
        checked(ScheduleDefinition { time_zone: body.time_zone, hours: body.hours, holidays: body.holidays })?;
    let schedule = state.db.run(move |conn| schedules::create(conn, &name, &definition)).await?;
    let location = format!("/v1/schedules/{}", schedule.id);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(ScheduleView::from(schedule)))
}

/// List schedules, oldest first (at most 200).
#[utoipa::path(
    tag = "sla",
    operation_id = "listSchedules",
    responses((status = 200, description = "The schedules.", body = Vec<ScheduleView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/schedules")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let schedules = state.db.run(|conn| schedules::list(conn, 200)).await?;
    Ok(HttpResponse::Ok().json(schedules.into_iter().map(ScheduleView::from).collect::<Vec<_>>()))
}

/// Get a schedule as it is now.
#[utoipa::path(
    tag = "sla",
    operation_id = "getSchedule",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The schedule.", body = ScheduleView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/schedules/{id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<ScheduleId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let schedule = state.db.run(move |conn| schedules::get(conn, id)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(ScheduleView::from(schedule)))
}

/// Every version of a schedule, oldest first: what counted when.
#[utoipa::path(
    tag = "sla",
    operation_id = "listScheduleVersions",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The versions.", body = Vec<ScheduleVersionView>), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/schedules/{id}/versions")]
async fn versions(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<ScheduleId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let versions = state
        .db
        .run(move |conn| {
            schedules::get(conn, id)?;
            schedules::versions(conn, id)
        })
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Ok().json(versions.into_iter().map(ScheduleVersionView::from).collect::<Vec<_>>()))
}

/// Rename a schedule or change its hours, zone or holidays: a change of those adds a
/// version valid from now on.
#[utoipa::path(
    tag = "sla",
    operation_id = "updateSchedule",
    params(("id" = String, Path, format = Uuid)),
    request_body = SchedulePatch,
    responses((status = 200, description = "The schedule as changed.", body = ScheduleView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/schedules/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<ScheduleId>,
    body: web::Json<SchedulePatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let name = body.name.as_deref().map(|name| braid_core::text::label("name", name)).transpose()?;
    let id = id.into_inner();
    let schedule = state
        .db
        .run(move |conn| {
            let now = schedules::get(conn, id)?;
            let definition = match (body.time_zone, body.hours, body.holidays) {
                (None, None, None) => None,
                (zone, hours, holidays) => {
                    let definition = ScheduleDefinition {
                        time_zone: zone.unwrap_or(now.definition.time_zone),
                        hours: hours.unwrap_or(now.definition.hours),
                        holidays: holidays.unwrap_or(now.definition.holidays),
                    };
                    let checked = Hours::new(definition).map_err(|e| braid_db::DbError::invalid(e.field, e.clone()))?;
                    Some(checked.definition().clone())
                }
            };
            schedules::update(conn, id, name.as_deref(), definition.as_ref())
        })
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Ok().json(ScheduleView::from(schedule)))
}
