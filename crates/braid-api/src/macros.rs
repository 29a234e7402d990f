//! Macros and canned responses: typed actions with placeholders, shared (admins write)
//! or personal (their agent's alone), tried as a dry run and applied to a ticket in one
//! transaction. The template syntax is in `docs/macros.md`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use braid_core::macros::{Action, Actions, PlanError, Rendered};
use braid_core::{AgentId, Channel, MacroId, Scope, TicketId};
use braid_db::macros::{self, ApplyError, Macro, MacroChanges, MacroFilter, NewMacro};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::responses;
use crate::messages::MessageView;
use crate::pagination::{PageParams, Paged};
use crate::tickets::TicketView;
use crate::{ApiError, AppState, ErrorCode, Principal};

/// One step of a macro, by `type`. Texts may hold placeholders:
/// `{{customer.first_name | default: "there"}}`.
#[derive(ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(dead_code, reason = "only read by the OpenAPI derive")]
pub enum ActionSchema {
    SetStatus {
        #[schema(example = "pending")]
        status: String,
    },
    SetPriority {
        #[schema(example = "high")]
        priority: String,
    },
    /// `null` unassigns.
    SetAssignee {
        #[schema(format = Uuid, nullable)]
        agent_id: Option<String>,
    },
    /// Assigns the agent who applies the macro (an API key cannot).
    AssignToMe {},
    /// `null` removes the team.
    SetTeam {
        #[schema(format = Uuid, nullable)]
        team_id: Option<String>,
    },
    AddTags {
        #[schema(min_items = 1, max_items = 50, example = json!(["refund"]))]
        tags: Vec<String>,
    },
    RemoveTags {
        #[schema(min_items = 1, max_items = 50)]
        tags: Vec<String>,
    },
    /// A reply to the customer on the ticket's usual route.
    Reply {
        #[schema(example = "Hi {{customer.first_name | default: \"there\"}}, your refund is on its way.")]
        text: String,
    },
    /// An internal note.
    Note { text: String },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MacroView {
    #[schema(value_type = String, format = Uuid)]
    pub id: MacroId,
    #[schema(example = "Refund sent")]
    pub name: String,
    pub description: Option<String>,
    /// `shared` (every agent's) or `personal` (only its owner sees it).
    #[schema(example = "shared")]
    pub visibility: &'static str,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_agent_id: Option<AgentId>,
    /// A reply and nothing else.
    pub canned_response: bool,
    #[schema(value_type = Vec<ActionSchema>)]
    pub actions: Actions,
    /// How many times it was applied.
    pub applied_count: i64,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub created_by: Option<AgentId>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Macro> for MacroView {
    fn from(m: Macro) -> Self {
        let visibility = m.visibility();
        Self {
            id: m.id,
            name: m.name,
            description: m.description,
            visibility,
            owner_agent_id: m.owner_agent_id,
            canned_response: m.canned_response,
            actions: m.actions,
            applied_count: m.applied_count,
            created_by: m.created_by,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Shared,
    #[default]
    Personal,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Refund sent", "visibility": "shared", "actions": [
    {"type": "reply", "text": "Hi {{customer.first_name | default: \"there\"}}, your refund is on its way."},
    {"type": "set_status", "status": "pending"},
    {"type": "add_tags", "tags": ["refund"]}
]}))]
pub struct NewMacroBody {
    pub name: String,
    pub description: Option<String>,
    /// `personal` (the default; needs an agent's session) or `shared` (needs `admin`).
    #[schema(value_type = Option<String>, example = "shared")]
    pub visibility: Option<Visibility>,
    /// 1 to 9, each type at most once.
    #[schema(value_type = Vec<ActionSchema>, min_items = 1, max_items = 9)]
    pub actions: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Refund sent (EU)"}))]
pub struct MacroPatch {
    pub name: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(nullable)]
    pub description: Option<Option<String>>,
    /// Replaces the actions.
    #[schema(value_type = Option<Vec<ActionSchema>>, min_items = 1, max_items = 9)]
    pub actions: Option<Vec<serde_json::Value>>,
}

/// Each action parsed on its own, so a mistake names its place: `actions[2]: …`.
fn actions(raw: Vec<serde_json::Value>) -> Result<Actions, ApiError> {
    if raw.len() > braid_core::macros::MAX_ACTIONS {
        return Err(ApiError::over_limit("actions", braid_core::macros::MAX_ACTIONS));
    }
    let parsed = raw
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            serde_json::from_value::<Action>(value).map_err(|e| {
                ApiError::new(ErrorCode::ValidationFailed, format!("actions[{i}]: {e}"))
                    .with_extra(serde_json::json!({ "field": format!("actions[{i}]") }))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Actions::new(parsed)?)
}

fn description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(raw.map(braid_core::macros::description).transpose()?.flatten())
}

fn not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("macro with this id"),
        other => other.into(),
    }
}

/// Who may change a macro: its owner a personal one, an admin a shared one.
fn require_editor(caller: &Principal, found: &Macro) -> Result<(), ApiError> {
    match found.owner_agent_id {
        Some(owner) if caller.agent_id() == Some(owner) => caller.require(Scope::TicketsWrite),
        Some(_) => Err(ApiError::not_found("macro with this id")),
        None => caller.require(Scope::Admin),
    }
}

/// Create a macro (a canned response when its only action is a reply).
#[utoipa::path(
    tag = "macros",
    operation_id = "createMacro",
    request_body = NewMacroBody,
    responses((status = 201, description = "Created.", body = MacroView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[post("/v1/macros")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewMacroBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let body = body.into_inner();
    let owner = match body.visibility.unwrap_or_default() {
        Visibility::Shared => {
            caller.require(Scope::Admin)?;
            None
        }
        Visibility::Personal => Some(caller.agent_id().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "a personal macro belongs to an agent; an API key makes shared ones",
            )
            .with_extra(serde_json::json!({ "field": "visibility" }))
        })?),
    };
    let new = NewMacro {
        name: braid_core::macros::name(&body.name)?,
        description: description(body.description.as_deref())?,
        owner_agent_id: owner,
        actions: actions(body.actions)?,
        created_by: caller.agent_id(),
    };
    let created = state.db.run(move |conn| macros::create(conn, new)).await?;
    let location = format!("/v1/macros/{}", created.id);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(MacroView::from(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MacroQuery {
    /// `shared` or `personal` (the caller's own); both when left out.
    pub visibility: Option<String>,
    /// `canned_response` (a reply only) or `macro` (anything else); both when left out.
    pub kind: Option<String>,
    /// Part of the name, in any case.
    pub q: Option<String>,
}

impl MacroQuery {
    fn filter(&self) -> Result<MacroFilter, ApiError> {
        let invalid = |field: &str, value: &str, allowed: &str| {
            ApiError::new(ErrorCode::ValidationFailed, format!("{field} `{value}` is not one of {allowed}"))
                .with_extra(serde_json::json!({ "field": field }))
        };
        let shared = match self.visibility.as_deref() {
            None => None,
            Some("shared") => Some(true),
            Some("personal") => Some(false),
            Some(other) => return Err(invalid("visibility", other, "shared, personal")),
        };
        let canned_response = match self.kind.as_deref() {
            None => None,
            Some("canned_response") => Some(true),
            Some("macro") => Some(false),
            Some(other) => return Err(invalid("kind", other, "canned_response, macro")),
        };
        let name_contains = match self.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > braid_core::macros::MAX_NAME_CHARS => {
                return Err(ApiError::new(ErrorCode::ValidationFailed, "q is at most 120 characters")
                    .with_extra(serde_json::json!({ "field": "q" })));
            }
            Some(q) => Some(q.to_owned()),
        };
        Ok(MacroFilter { shared, canned_response, name_contains })
    }
}

/// List the macros the caller sees: the shared ones and their own, oldest first.
#[utoipa::path(
    tag = "macros",
    operation_id = "listMacros",
    params(MacroQuery, PageParams),
    responses((status = 200, description = "A page of macros.", body = Paged<MacroView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/macros")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<MacroQuery>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let (filter, limit, cursor, viewer) = (query.filter()?, page.limit()?, page.cursor()?, caller.agent_id());
    let page = state.db.run(move |conn| macros::list(conn, viewer, &filter, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, MacroView::from)))
}

/// Get a macro (another agent's personal macro is not found).
#[utoipa::path(
    tag = "macros",
    operation_id = "getMacro",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The macro.", body = MacroView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/macros/{id}")]
async fn get(state: web::Data<AppState>, caller: Principal, id: web::Path<MacroId>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let (id, viewer) = (id.into_inner(), caller.agent_id());
    let found = state.db.run(move |conn| macros::visible(conn, id, viewer)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(MacroView::from(found)))
}

/// Change a macro: its owner a personal one, an admin a shared one.
#[utoipa::path(
    tag = "macros",
    operation_id = "updateMacro",
    params(("id" = String, Path, format = Uuid)),
    request_body = MacroPatch,
    responses((status = 200, description = "The macro as changed.", body = MacroView), responses::Auth, responses::NotFound, responses::BadInput, responses::Conflict),
    security(("bearer" = [])),
)]
#[patch("/v1/macros/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MacroId>,
    body: web::Json<MacroPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let body = body.into_inner();
    let changes = MacroChanges {
        name: body.name.as_deref().map(braid_core::macros::name).transpose()?,
        description: body.description.map(|d| description(d.as_deref())).transpose()?,
        actions: body.actions.map(actions).transpose()?,
    };
    let (id, viewer) = (id.into_inner(), caller.agent_id());
    let found = state.db.run(move |conn| macros::visible(conn, id, viewer)).await.map_err(not_found)?;
    require_editor(&caller, &found)?;
    let changed = state.db.run(move |conn| macros::update(conn, id, &changes)).await.map_err(not_found)?;
    Ok(HttpResponse::Ok().json(MacroView::from(changed)))
}

/// Delete a macro: its owner a personal one, an admin a shared one.
#[utoipa::path(
    tag = "macros",
    operation_id = "deleteMacro",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted."), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/macros/{id}")]
async fn remove(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MacroId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let (id, viewer) = (id.into_inner(), caller.agent_id());
    let found = state.db.run(move |conn| macros::visible(conn, id, viewer)).await.map_err(not_found)?;
    require_editor(&caller, &found)?;
    state.db.run(move |conn| macros::delete(conn, id)).await.map_err(not_found)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplyQuery {
    /// `true`: answer what applying would do, and write nothing.
    pub dry_run: Option<bool>,
}

/// A filled text: what it says, and the placeholders left unfilled (left as written).
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedView {
    pub text: String,
    #[schema(example = json!([]))]
    pub unresolved: Vec<String>,
}

impl From<Rendered> for RenderedView {
    fn from(r: Rendered) -> Self {
        Self { text: r.text, unresolved: r.unresolved.into_iter().map(|f| f.to_string()).collect() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnresolvedView {
    /// `reply` or `note`.
    pub action: &'static str,
    #[schema(example = "customer.first_name")]
    pub field: String,
}

/// What a macro did, or (`dry_run`) would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct MacroResult {
    pub dry_run: bool,
    #[schema(value_type = String, format = Uuid)]
    pub macro_id: MacroId,
    /// The ticket as it now is; on a dry run, as it would be (same version).
    pub ticket: TicketView,
    /// The fields the macro changes (or would): those already as it sets them are left out.
    #[schema(example = json!(["status", "tags"]))]
    pub changed: Vec<&'static str>,
    pub reply: Option<RenderedView>,
    /// Where the reply goes.
    #[schema(value_type = Option<String>, example = "email")]
    pub reply_channel: Option<Channel>,
    pub note: Option<RenderedView>,
    /// Placeholders with neither a value nor a default: applying is refused while any
    /// remain (`unresolved_placeholder`).
    pub unresolved: Vec<UnresolvedView>,
    /// What was written: the reply, then the note. Empty on a dry run.
    pub messages: Vec<MessageView>,
}

/// Apply a macro to a ticket, or see what it would do (`?dry_run=true`).
///
/// The reply and the note are written first, then the ticket's fields change, in one
/// transaction; `ticket.macro_applied` records it. A placeholder with neither a value nor
/// a default refuses the whole macro (`unresolved_placeholder`, naming each), so a
/// customer never reads `{{customer.first_name}}`. Send the ticket's `ETag` as `If-Match`
/// to apply only to the version you saw. Without `customers:read`, the customer's fields
/// stay unfilled.
#[utoipa::path(
    tag = "macros",
    operation_id = "applyMacro",
    params(
        ("id" = String, Path, format = Uuid, description = "The ticket."),
        ("macro_id" = String, Path, format = Uuid),
        ApplyQuery,
        ("If-Match" = Option<String>, Header, description = "The ticket's `ETag` as you saw it."),
    ),
    responses(
        (status = 200, description = "Applied (with the ticket's new `ETag`), or on a dry run what it would do.", body = MacroResult, headers(("etag" = Option<String>))),
        responses::Auth, responses::NotFound, responses::BadQuery,
        (status = 409, description = "The ticket is closed (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The ticket changed since that `ETag` (`precondition_failed`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/tickets/{id}/macros/{macro_id}/apply")]
async fn apply(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(TicketId, MacroId)>,
    query: web::Query<ApplyQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let expected = crate::tickets::if_match(&req)?;
    let (ticket, macro_id) = path.into_inner();
    let dry_run = query.dry_run.unwrap_or(false);
    let agent =
        macros::Caller { agent: caller.agent_id(), reads_customers: caller.require(Scope::CustomersRead).is_ok() };
    let applied = state
        .db
        .run(move |conn| Ok(macros::apply(conn, ticket, macro_id, agent, expected, dry_run)))
        .await?
        .map_err(apply_error)?;
    let plan = &applied.plan;
    let changed = [
        ("status", plan.status.is_some()),
        ("priority", plan.priority.is_some()),
        ("assignee_id", plan.assignee_id.is_some()),
        ("team_id", plan.team_id.is_some()),
        ("tags", plan.tags.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, changes)| changes.then_some(field))
    .collect();
    let unresolved = plan
        .unresolved()
        .into_iter()
        .map(|(action, field)| UnresolvedView { action, field: field.to_string() })
        .collect();
    let mut response = HttpResponse::Ok();
    if !dry_run {
        response.insert_header((actix_web::http::header::ETAG, format!("\"{}\"", applied.ticket.version)));
    }
    Ok(response.json(MacroResult {
        dry_run,
        macro_id: applied.macro_.id,
        ticket: applied.ticket.into(),
        changed,
        reply: applied.plan.reply.map(Into::into),
        reply_channel: applied.reply_channel,
        note: applied.plan.note.map(Into::into),
        unresolved,
        messages: applied.messages.into_iter().map(MessageView::from).collect(),
    }))
}

fn apply_error(error: ApplyError) -> ApiError {
    match error {
        ApplyError::MacroNotFound => ApiError::not_found("macro with this id"),
        ApplyError::Unresolved(fields) => {
            let names: Vec<String> =
                fields.iter().map(|(action, field)| format!("{field} (in the {action})")).collect();
            let listed: Vec<serde_json::Value> =
                fields.iter().map(|(action, field)| serde_json::json!({ "action": action, "field": field })).collect();
            ApiError::new(
                ErrorCode::UnresolvedPlaceholder,
                format!(
                    "nothing was applied: {} {} neither a value nor a default",
                    names.join(", "),
                    if names.len() == 1 { "has" } else { "have" }
                ),
            )
            .with_extra(serde_json::json!({ "unresolved": listed }))
        }
        ApplyError::Plan(PlanError::Transition { from, to }) => ApiError::new(
            ErrorCode::InvalidStatusTransition,
            format!("the macro would move the ticket from {from} to {to}, which the status machine does not allow"),
        ),
        ApplyError::Plan(PlanError::NoAgent) => {
            ApiError::new(ErrorCode::ValidationFailed, PlanError::NoAgent.to_string())
        }
        ApplyError::Plan(PlanError::Invalid(invalid)) => invalid.into(),
        ApplyError::Update(error) => crate::tickets::update_error(error),
    }
}
