//! Service levels: SLA policies (admins write, agents read) and a ticket's clocks,
//! explained (`GET /v1/tickets/{id}/sla`). What each clock measures is in `docs/sla.md`.

use actix_web::{HttpResponse, get, patch, post, web};
use braid_core::sla::{Conditions, PolicyDefinition, Targets};
use braid_core::{ScheduleId, Scope, SlaPolicyId, TicketId};
use braid_db::sla::policies::{self, Changes, Policy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::{ApiError, AppState, Principal};

/// Minutes allowed per priority; a priority left out has no target.
#[derive(Debug, Serialize, ToSchema)]
pub struct PerPriorityView {
    #[schema(minimum = 1, maximum = 527040)]
    pub urgent: Option<u32>,
    #[schema(minimum = 1, maximum = 527040)]
    pub high: Option<u32>,
    #[schema(minimum = 1, maximum = 527040)]
    pub normal: Option<u32>,
    #[schema(minimum = 1, maximum = 527040)]
    pub low: Option<u32>,
}

/// One target: minutes per priority, counted in `calendar` (default) or `business` hours
/// (the policy's schedule), standing still in the `pause_on` statuses.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    pub minutes: PerPriorityView,
    /// `calendar` (default) or `business`.
    #[schema(example = "business")]
    pub hours: Option<String>,
    /// Of `pending` and `on_hold`. Left out: both for next reply and resolution, none for
    /// first reply.
    #[schema(example = json!(["pending", "on_hold"]))]
    pub pause_on: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetsView {
    pub first_reply: Option<TargetView>,
    pub next_reply: Option<TargetView>,
    pub resolution: Option<TargetView>,
}

/// Which tickets a policy covers: each list given must hold the ticket's value (tags: one
/// of the ticket's); an empty or missing list is no condition. At most 100 values each.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConditionsView {
    #[schema(example = json!(["urgent", "high"]))]
    pub priorities: Option<Vec<String>>,
    #[schema(example = json!(["email", "chat"]))]
    pub channels: Option<Vec<String>>,
    pub teams: Option<Vec<uuid::Uuid>>,
    #[schema(example = json!(["vip"]))]
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPolicyView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SlaPolicyId,
    pub name: String,
    /// Policies are tried by position, then age; the first covering a ticket applies.
    pub position: i32,
    pub enabled: bool,
    #[schema(value_type = ConditionsView)]
    pub conditions: Conditions,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub schedule_id: Option<ScheduleId>,
    #[schema(value_type = TargetsView)]
    pub targets: Targets,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Policy> for SlaPolicyView {
    fn from(p: Policy) -> Self {
        Self {
            id: p.id,
            name: p.name,
            position: p.position,
            enabled: p.enabled,
            conditions: p.definition.conditions,
            schedule_id: p.definition.schedule_id,
            targets: p.definition.targets,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "VIP", "position": 10, "conditions": {"tags": ["vip"]}, "schedule_id": null, "targets": {"first_reply": {"minutes": {"urgent": 15, "high": 30, "normal": 60}}, "resolution": {"minutes": {"normal": 1440}}}}))]
pub struct NewSlaPolicyBody {
    pub name: String,
    /// 0 when left out.
    pub position: Option<i32>,
    /// `true` when left out.
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<ConditionsView>)]
    pub conditions: Conditions,
    /// Needed when a target counts `business` hours.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub schedule_id: Option<ScheduleId>,
    #[schema(value_type = TargetsView)]
    pub targets: Targets,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct SlaPolicyPatch {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    #[schema(value_type = Option<ConditionsView>)]
    pub conditions: Option<Conditions>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub schedule_id: Option<Option<ScheduleId>>,
    #[schema(value_type = Option<TargetsView>)]
    pub targets: Option<Targets>,
}

fn not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("SLA policy with this id"),
        other => other.into(),
    }
}

/// Create an SLA policy. It applies to a ticket at the ticket's next change.
#[utoipa::path(
    tag = "sla",
    operation_id = "createSlaPolicy",
    request_body = NewSlaPolicyBody,
    responses((status = 201, description = "Created.", body = SlaPolicyView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[post("/v1/sla-policies")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewSlaPolicyBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let name = braid_core::text::label("name", &body.name)?;
    let definition =
        PolicyDefinition { conditions: body.conditions, schedule_id: body.schedule_id, targets: body.targets };
    definition.check()?;
    let (position, enabled) = (body.position.unwrap_or(0), body.enabled.unwrap_or(true));
    let policy = state.db.run(move |conn| policies::create(conn, &name, position, enabled, &definition)).await?;
    let location = format!("/v1/sla-policies/{}", policy.id);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(SlaPolicyView::from(policy)))
}

/// List SLA policies in the order they are tried.
#[utoipa::path(
    tag = "sla",
    operation_id = "listSlaPolicies",
    responses((status = 200, description = "The policies.", body = Vec<SlaPolicyView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/sla-policies")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let policies = state.db.run(policies::list).await?;
    Ok(HttpResponse::Ok().json(policies.into_iter().map(SlaPolicyView::from).collect::<Vec<_>>()))
}

/// Get an SLA policy.
#[utoipa::path(
    tag = "sla",
    operation_id = "getSlaPolicy",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The policy.", body = SlaPolicyView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/sla-policies/{id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SlaPolicyId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let policy = state.db.run(move |conn| policies::get(conn, id)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(SlaPolicyView::from(policy)))
}

/// Change an SLA policy, or turn it off (`enabled: false`). Tickets take the change at
/// their next change; breaches already announced stay.
#[utoipa::path(
    tag = "sla",
    operation_id = "updateSlaPolicy",
    params(("id" = String, Path, format = Uuid)),
    request_body = SlaPolicyPatch,
    responses((status = 200, description = "The policy as changed.", body = SlaPolicyView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/sla-policies/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SlaPolicyId>,
    body: web::Json<SlaPolicyPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let changes = Changes {
        name: body.name.as_deref().map(|name| braid_core::text::label("name", name)).transpose()?,
        position: body.position,
        enabled: body.enabled,
        conditions: body.conditions,
        schedule_id: body.schedule_id,
        targets: body.targets,
    };
    let id = id.into_inner();
    let policy = state.db.run(move |conn| policies::update(conn, id, &changes)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(SlaPolicyView::from(policy)))
}

/// A time a clock stood still, and the status that held it (`solved` for the time a
/// resolution clock waited between a solve and a reopen).
#[derive(Debug, Serialize, ToSchema)]
pub struct PauseView {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub status: String,
}

/// One run of one target's clock.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// `first_reply`, `next_reply` or `resolution`.
    pub metric: String,
    /// `calendar` or `business`.
    pub hours: String,
    pub target_minutes: u32,
    pub started_at: DateTime<Utc>,
    /// When the target is, was, or (for a clock that stopped in time) would have been
    /// reached; `null` while paused.
    pub due_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// `replied` or `solved`.
    pub stopped_by: Option<String>,
    pub paused: Vec<PauseView>,
    /// Counted time (calendar or business) the clock ran, to its stop or to now.
    pub used_seconds: i64,
    /// When the target was missed; `null` when met or still open.
    pub breached_at: Option<DateTime<Utc>>,
}

/// A target missed: announced once, as `ticket.sla_breached`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreachView {
    pub ticket_id: uuid::Uuid,
    pub metric: String,
    /// When the clock that breached started.
    pub started_at: DateTime<Utc>,
    pub breached_at: DateTime<Utc>,
    pub policy_id: uuid::Uuid,
    pub policy_name: String,
    pub target_minutes: u32,
    pub hours: String,
}

/// The policy as it was applied at the ticket's last change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedPolicyView {
    pub id: uuid::Uuid,
    pub name: String,
    pub version: i64,
    pub conditions: ConditionsView,
    pub schedule_id: Option<uuid::Uuid>,
    pub targets: TargetsView,
}

/// A policy tried before the one that applies, and the condition it failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedPolicyView {
    pub policy_id: uuid::Uuid,
    pub name: String,
    #[schema(example = "priority normal is not one of urgent")]
    pub because: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhyView {
    /// Each condition the applied policy met, in words.
    #[schema(example = json!(["tag vip is one of vip"]))]
    pub matched: Vec<String>,
    pub skipped: Vec<SkippedPolicyView>,
}

/// A ticket's service level, measured now.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketSlaView {
    pub ticket_id: uuid::Uuid,
    /// `null` when no policy covered the ticket at its last change.
    pub policy: Option<AppliedPolicyView>,
    pub why: WhyView,
    /// Every clock cycle, oldest first.
    pub clocks: Vec<ClockView>,
    /// Breaches announced, including under an earlier policy or priority.
    pub breaches: Vec<BreachView>,
    /// When the soonest running clock reaches its target.
    pub next_due_at: Option<DateTime<Utc>>,
    pub measured_at: DateTime<Utc>,
}

/// A ticket's SLA explained: the policy and why it applies, each clock with its due
/// time, the time it used and its pauses, and what breached when.
#[utoipa::path(
    tag = "sla",
    operation_id = "getTicketSla",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The ticket's service level.", body = TicketSlaView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/tickets/{id}/sla")]
async fn of_ticket(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let sla =
        state.db.run(move |conn| braid_db::sla::of_ticket(conn, id)).await.map_err(crate::tickets::ticket_not_found)?;
    // The core types serialize in exactly the shape `TicketSlaView` documents.
    Ok(HttpResponse::Ok().json(sla))
}
