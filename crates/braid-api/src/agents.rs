//! Agents (admin only): create, list, get, update, deactivate.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use braid_core::{AgentId, AgentName, EmailAddress, Role, Scope};
use braid_db::agents::{self, Agent, AgentChanges, NewAgent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, ErrorCode, Principal, password};

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    #[schema(value_type = String, format = Uuid)]
    pub id: AgentId,
    #[schema(value_type = String, example = "ana@example.org")]
    pub email: EmailAddress,
    #[schema(value_type = String, example = "Ana Lima")]
    pub name: AgentName,
    #[schema(value_type = String, example = "agent")]
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Agent> for AgentView {
    fn from(agent: Agent) -> Self {
        Self {
            id: agent.id,
            email: agent.email,
            name: agent.name,
            role: agent.role,
            active: agent.active,
            created_at: agent.created_at,
            updated_at: agent.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.org", "name": "Ana Lima", "role": "agent", "password": "a long passphrase"}))]
pub struct NewAgentRequest {
    pub email: String,
    pub name: String,
    /// `admin` or `agent` (default).
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ana Lima-Souza", "role": "admin"}))]
pub struct AgentPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Sets a new password and ends the agent's sessions.
    pub password: Option<String>,
    /// `false` deactivates (sessions end at once), `true` reactivates.
    pub active: Option<bool>,
}

/// Hashes under the server's hash budget (see `throttle`), waiting for a permit.
async fn hash(state: &AppState, password: String) -> Result<String, ApiError> {
    let permit = state.auth.guards.hash_permit().await;
    web::block(move || {
        let hashed = password::hash(&password);
        drop(permit);
        hashed
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.to_string()))
}

fn not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("agent with this id"),
        other => other.into(),
    }
}

/// Add an agent.
#[utoipa::path(
    tag = "agents",
    operation_id = "createAgent",
    request_body = NewAgentRequest,
    responses(
        (status = 201, description = "Created.", body = AgentView),
        responses::Auth, responses::BadInput, responses::Conflict,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/agents")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewAgentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let new = NewAgent {
        email: EmailAddress::parse(&body.email)?,
        name: AgentName::parse(&body.name)?,
        role: body.role.unwrap_or(Role::Agent),
        password_hash: hash(&state, body.password).await?,
    };
    let agent = state.db.run(move |conn| agents::create(conn, &new)).await.map_err(|e| match e {
        braid_db::DbError::Conflict(_) => ApiError::new(ErrorCode::Conflict, "an agent with this email exists"),
        other => other.into(),
    })?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/agents/{}", agent.id)))
        .json(AgentView::from(agent)))
}

/// List agents, in the order they were added.
#[utoipa::path(
    tag = "agents",
    operation_id = "listAgents",
    params(PageParams),
    responses((status = 200, description = "A page of agents.", body = Paged<AgentView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/agents")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let page = state.db.run(move |conn| agents::list(conn, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, AgentView::from)))
}

/// Get an agent.
#[utoipa::path(
    tag = "agents",
    operation_id = "getAgent",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The agent.", body = AgentView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/agents/{id}")]
async fn get(state: web::Data<AppState>, caller: Principal, id: web::Path<AgentId>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let agent = state.db.run(move |conn| agents::get(conn, id)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(AgentView::from(agent)))
}

/// Update an agent: name, role, password, active.
///
/// The last active admin cannot be demoted or deactivated.
#[utoipa::path(
    tag = "agents",
    operation_id = "updateAgent",
    params(("id" = String, Path, format = Uuid)),
    request_body = AgentPatch,
    responses((status = 200, description = "The agent as changed.", body = AgentView), responses::Auth, responses::NotFound, responses::BadInput, responses::Conflict),
    security(("bearer" = [])),
)]
#[patch("/v1/agents/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<AgentId>,
    body: web::Json<AgentPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let changes = AgentChanges {
        name: body.name.as_deref().map(AgentName::parse).transpose()?,
        role: body.role,
        password_hash: match body.password {
            Some(password) => Some(hash(&state, password).await?),
            None => None,
        },
        active: body.active,
    };
    apply(&state, id.into_inner(), changes).await
}

/// Deactivate an agent: they can no longer sign in and their sessions end.
#[utoipa::path(
    tag = "agents",
    operation_id = "deactivateAgent",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "Deactivated.", body = AgentView), responses::Auth, responses::NotFound, responses::Conflict),
    security(("bearer" = [])),
)]
#[delete("/v1/agents/{id}")]
async fn deactivate(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    apply(&state, id.into_inner(), AgentChanges { active: Some(false), ..AgentChanges::default() }).await
}

async fn apply(state: &AppState, id: AgentId, changes: AgentChanges) -> Result<HttpResponse, ApiError> {
    let agent = state.db.run(move |conn| agents::update(conn, id, &changes)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(AgentView::from(agent)))
}
