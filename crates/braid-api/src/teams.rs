//! Teams (admin only): create, list, get, update, deactivate.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use braid_core::follow_up::PendingRule;
use braid_core::routing::Routing;
use braid_core::{AgentId, AgentName, Scope, TeamId};
use braid_db::teams::{self, Team, TeamChanges};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView {
    #[schema(value_type = String, format = Uuid)]
    pub id: TeamId,
    #[schema(value_type = String, example = "Billing")]
    pub name: AgentName,
    pub active: bool,
    #[schema(value_type = Vec<String>)]
    pub member_ids: Vec<AgentId>,
    /// What happens to the team's tickets left pending; `null`: nothing.
    #[schema(value_type = Option<PendingRuleView>)]
    pub pending_rule: Option<PendingRule>,
    /// How the team's new, moved and reopened tickets find an agent.
    #[schema(value_type = RoutingView)]
    pub routing: Routing,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A team's rule for its pending tickets: no answer from the customer for
/// `remind_after_days` sends them `reminder_text` (on the ticket's channel, as automated
/// mail); after `solve_after_days` the ticket is solved, with a note saying why. Days are
/// working days of `schedule_id`, or calendar days without one; they count from when the
/// ticket went pending (or moved to the team while pending).
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingRuleView {
    #[schema(minimum = 1, maximum = 89)]
    pub remind_after_days: u32,
    #[schema(minimum = 2, maximum = 90)]
    pub solve_after_days: u32,
    pub schedule_id: Option<uuid::Uuid>,
    #[schema(example = "Did our last answer help? Reply to this message and we will pick it up.", max_length = 5000)]
    pub reminder_text: String,
}

/// A team's routing: `manual` (the default: nobody is chosen), `round_robin` (in turn), or
/// `least_loaded` (the fewest unsolved tickets on the ticket's channel). Only online agents
/// with room under their capacity on that channel take tickets. An agent offline for
/// `grace_minutes` has their open tickets reassigned, unassigned or kept
/// (`offline_policy`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingView {
    #[schema(example = "least_loaded")]
    pub mode: Option<String>,
    /// Per channel: `{"chat": 3, "email": 20}`; channels left out take `default_capacity`.
    #[schema(value_type = Option<Object>, example = json!({"chat": 3}))]
    pub capacity: Option<std::collections::BTreeMap<String, u32>>,
    /// 20 when left out.
    #[schema(minimum = 0, maximum = 1000)]
    pub default_capacity: Option<u32>,
    /// `reassign` (the default), `unassign` or `keep`.
    #[schema(example = "reassign")]
    pub offline_policy: Option<String>,
    /// 15 when left out.
    #[schema(minimum = 0, maximum = 1440)]
    pub grace_minutes: Option<u32>,
}

impl From<Team> for TeamView {
    fn from(team: Team) -> Self {
        Self {
            id: team.id,
            name: team.name,
            active: team.active,
            member_ids: team.member_ids,
            pending_rule: team.pending_rule,
            routing: team.routing,
            created_at: team.created_at,
            updated_at: team.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Billing", "member_ids": []}))]
pub struct NewTeam {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub member_ids: Vec<AgentId>,
    #[schema(value_type = Option<PendingRuleView>)]
    pub pending_rule: Option<PendingRule>,
    #[schema(value_type = Option<RoutingView>)]
    pub routing: Option<Routing>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Billing EMEA", "member_ids": ["0190f5c4-0000-7000-8000-000000000001"]}))]
pub struct TeamPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Replaces the members.
    #[schema(value_type = Option<Vec<String>>)]
    pub member_ids: Option<Vec<AgentId>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<PendingRuleView>)]
    pub pending_rule: Option<Option<PendingRule>>,
    /// Replaces the routing.
    #[schema(value_type = Option<RoutingView>)]
    pub routing: Option<Routing>,
}

/// A pending rule's schedule must exist.
fn known_schedule(conn: &mut braid_db::DbConn, rule: Option<&PendingRule>) -> Result<(), braid_db::DbError> {
    let Some(schedule) = rule.and_then(|rule| rule.schedule_id) else { return Ok(()) };
    match braid_db::sla::schedules::get(conn, schedule) {
        Err(braid_db::DbError::NotFound) => Err(braid_db::DbError::Invalid {
            field: "pending_rule".into(),
            message: "schedule_id names no schedule".into(),
        }),
        other => other.map(|_| ()),
    }
}

fn db_error(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("team with this id"),
        braid_db::DbError::Conflict(_) => ApiError::new(ErrorCode::Conflict, "a team with this name exists"),
        braid_db::DbError::MissingReference(_) => {
            ApiError::new(ErrorCode::ValidationFailed, "member_ids names an agent that does not exist")
        }
        other => other.into(),
    }
}

/// Create a team.
#[utoipa::path(
    tag = "teams",
    operation_id = "createTeam",
    request_body = NewTeam,
    responses((status = 201, description = "Created.", body = TeamView), responses::Auth, responses::BadInput, responses::Conflict),
    security(("bearer" = [])),
)]
#[post("/v1/teams")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewTeam>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let NewTeam { name, member_ids, pending_rule, routing } = body.into_inner();
    let name = AgentName::parse(&name)?;
    let pending_rule = pending_rule.map(PendingRule::check).transpose()?;
    let routing = routing.map(Routing::check).transpose()?;
    let team = state
        .db
        .run(move |conn| {
            known_schedule(conn, pending_rule.as_ref())?;
            teams::create(conn, &name, &member_ids, pending_rule.as_ref(), routing.as_ref())
        })
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Created().insert_header(("location", format!("/v1/teams/{}", team.id))).json(TeamView::from(team)))
}

/// List teams, in the order they were created.
#[utoipa::path(
    tag = "teams",
    operation_id = "listTeams",
    params(PageParams),
    responses((status = 200, description = "A page of teams.", body = Paged<TeamView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/teams")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let page = state.db.run(move |conn| teams::list(conn, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, TeamView::from)))
}

/// Get a team.
#[utoipa::path(
    tag = "teams",
    operation_id = "getTeam",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The team.", body = TeamView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/teams/{id}")]
async fn get(state: web::Data<AppState>, caller: Principal, id: web::Path<TeamId>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let team = state.db.run(move |conn| teams::get(conn, id)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(TeamView::from(team)))
}

/// Update a team: name, active, members, pending rule, routing.
#[utoipa::path(
    tag = "teams",
    operation_id = "updateTeam",
    params(("id" = String, Path, format = Uuid)),
    request_body = TeamPatch,
    responses((status = 200, description = "The team as changed.", body = TeamView), responses::Auth, responses::NotFound, responses::BadInput, responses::Conflict),
    security(("bearer" = [])),
)]
#[patch("/v1/teams/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TeamId>,
    body: web::Json<TeamPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let changes = TeamChanges {
        name: body.name.as_deref().map(AgentName::parse).transpose()?,
        active: body.active,
        member_ids: body.member_ids,
        pending_rule: body.pending_rule.map(|rule| rule.map(PendingRule::check).transpose()).transpose()?,
        routing: body.routing.map(Routing::check).transpose()?,
    };
    let id = id.into_inner();
    let team = state
        .db
        .run(move |conn| {
            known_schedule(conn, changes.pending_rule.as_ref().and_then(Option::as_ref))?;
            teams::update(conn, id, &changes)
        })
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(TeamView::from(team)))
}

/// Deactivate a team; its tickets keep it, new routing skips it.
#[utoipa::path(
    tag = "teams",
    operation_id = "deactivateTeam",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "Deactivated.", body = TeamView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/teams/{id}")]
async fn deactivate(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TeamId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let changes = TeamChanges { active: Some(false), ..TeamChanges::default() };
    let team = state.db.run(move |conn| teams::update(conn, id, &changes)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(TeamView::from(team)))
}
