//! Routing: agents' presence (a heartbeat, or the agent stream, keeps it) and each
//! ticket's routing decisions with their reasons. Teams set their routing on
//! `/v1/teams`; the rules are in `docs/routing.md`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, patch, put, web};
use braid_core::routing::{Presence, RoutingSettings};
use braid_core::{AgentId, Scope, TeamId, TicketId};
use braid_db::routing::{self, AgentPresence, Routed};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::tickets::read_of_ticket;
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceView {
    #[schema(value_type = String, format = Uuid)]
    pub agent_id: AgentId,
    /// `online`, `away` or `offline` now: a lapsed lease reads as `away`, and ten minutes
    /// later as `offline`.
    #[schema(value_type = String, example = "online")]
    pub status: Presence,
    /// What the agent last set.
    #[schema(value_type = String, example = "online")]
    pub set_status: Presence,
    /// Until then the last heartbeat holds.
    pub lease_until: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

impl From<AgentPresence> for PresenceView {
    fn from(p: AgentPresence) -> Self {
        Self {
            agent_id: p.agent_id,
            status: p.status,
            set_status: p.set_status,
            lease_until: p.lease_until,
            changed_at: p.changed_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "online"}))]
pub struct PresenceBody {
    /// `online`, `away` or `offline`; left out keeps what was set (a plain heartbeat).
    #[schema(value_type = Option<String>, example = "online")]
    pub status: Option<Presence>,
    /// Whose presence: yourself when left out. Naming another agent needs `admin` (an
    /// integration such as a phone system sets agents' presence with an admin key).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub agent_id: Option<AgentId>,
}

/// Set your presence, or send a heartbeat: either keeps you as you are for 90 seconds.
/// The agent stream's socket sends heartbeats while it is open. Only online agents are
/// routed tickets; coming online routes your teams' waiting tickets.
#[utoipa::path(
    tag = "routing",
    operation_id = "setPresence",
    request_body = PresenceBody,
    responses((status = 200, description = "Your presence now.", body = PresenceView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[put("/v1/presence")]
async fn set(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let PresenceBody { status, agent_id } = body.into_inner();
    let agent = match (agent_id, caller.agent_id()) {
        (None, Some(me)) => me,
        (Some(named), Some(me)) if named == me => me,
        (Some(named), Some(_)) => {
            caller.require(Scope::Admin)?;
            named
        }
        (Some(named), None) => {
            caller.require(Scope::Admin)?;
            named
        }
        (None, None) => {
            return Err(ApiError::new(ErrorCode::ValidationFailed, "an API key names the agent: `agent_id`")
                .with_extra(serde_json::json!({ "field": "agent_id" })));
        }
    };
    let now = state
        .db
        .run(move |conn| {
            match braid_db::agents::get(conn, agent) {
                Ok(found) if found.active => {}
                Ok(_) | Err(braid_db::DbError::NotFound) => {
                    return Err(braid_db::DbError::Invalid {
                        field: "agent_id".into(),
                        message: "names no active agent".into(),
                    });
                }
                Err(other) => return Err(other),
            }
            routing::heartbeat(conn, agent, status, braid_db::now())
        })
        .await?;
    Ok(HttpResponse::Ok().json(PresenceView::from(now)))
}

/// Every agent's presence (agents never seen are offline and not listed).
#[utoipa::path(
    tag = "routing",
    operation_id = "listPresence",
    responses((status = 200, description = "Presence by agent.", body = Vec<PresenceView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/presence")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let all = state.db.run(|conn| routing::list(conn, braid_db::now())).await?;
    Ok(HttpResponse::Ok().json(all.into_iter().map(PresenceView::from).collect::<Vec<_>>()))
}

/// One routing decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutedView {
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub ticket_id: TicketId,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// Who took it; `null` when nobody could, or it went back to the queue.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub agent_id: Option<AgentId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub previous_agent_id: Option<AgentId>,
    /// The team's mode: `round_robin` or `least_loaded` (`none` for a ticket with no team).
    #[schema(example = "least_loaded")]
    pub mode: String,
    /// `created`, `team_changed`, `reopened`, `agent_offline` or `agent_online`.
    #[schema(example = "created")]
    pub trigger: String,
    #[schema(example = "least loaded: 2 of 20 open on email, the fewest among 4 online with room")]
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl From<Routed> for RoutedView {
    fn from(r: Routed) -> Self {
        Self {
            id: r.id,
            ticket_id: r.ticket_id,
            team_id: r.team_id,
            agent_id: r.agent_id,
            previous_agent_id: r.previous_agent_id,
            mode: r.mode,
            trigger: r.trigger,
            reason: r.reason,
            at: r.at,
        }
    }
}

/// A ticket's routing decisions, oldest first, each with its reason.
#[utoipa::path(
    tag = "routing",
    operation_id = "getTicketRouting",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The decisions.", body = Vec<RoutedView>), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/tickets/{id}/routing")]
async fn of_ticket(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let decisions = read_of_ticket(&state, id, move |conn| routing::of_ticket(conn, id)).await?;
    Ok(HttpResponse::Ok().json(decisions.into_iter().map(RoutedView::from).collect::<Vec<_>>()))
}

/// Which team a new ticket joins by the channel it came on (`email`, `chat`, `web_form`,
/// `api`); that team's routing then gives it to someone online.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"default_teams": {"email": "0190f5c4-0000-7000-8000-000000000001"}}))]
pub struct RoutingSettingsView {
    /// Channel → team id; a channel left out opens tickets with no team.
    #[schema(value_type = Object)]
    pub default_teams: BTreeMap<braid_core::Channel, TeamId>,
}

/// The routing settings.
#[utoipa::path(
    tag = "routing",
    operation_id = "getRoutingSettings",
    responses((status = 200, description = "The settings.", body = RoutingSettingsView), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/routing/settings")]
async fn settings(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let now = state.db.run(routing::settings).await?;
    Ok(HttpResponse::Ok().json(RoutingSettingsView { default_teams: now.default_teams }))
}

/// Set the default team of each channel (the whole map: channels left out get none). New
/// tickets take it from then on.
#[utoipa::path(
    tag = "routing",
    operation_id = "updateRoutingSettings",
    request_body = RoutingSettingsView,
    responses((status = 200, description = "The settings as changed.", body = RoutingSettingsView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/routing/settings")]
async fn update_settings(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<RoutingSettingsView>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let default_teams = body.into_inner().default_teams;
    let changed =
        state.db.run(move |conn| routing::change_settings(conn, |_| Ok(RoutingSettings { default_teams }))).await?;
    Ok(HttpResponse::Ok().json(RoutingSettingsView { default_teams: changed.default_teams }))
}
