//! Tickets: open one for a customer, list with filters and sorts, get, and PATCH guarded
//! by `ETag` / `If-Match`.

use actix_web::http::header::{ETAG, IF_MATCH};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use braid_core::{
    AgentId, Channel, CustomerId, Direction, Priority, Scope, Subject, Tag, TeamId, TicketId, TicketNumber,
    TicketStatus,
};
use braid_db::tickets::{self, NewTicket, Ticket, TicketChanges, TicketFilter, TicketSort, UpdateError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    #[schema(value_type = String, format = Uuid)]
    pub id: TicketId,
    /// The human number, shown as `#1042`.
    #[schema(value_type = i64, example = 1042)]
    pub number: TicketNumber,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    #[schema(value_type = String, example = "My order never arrived")]
    pub subject: Subject,
    /// `open`, `pending`, `on_hold`, `solved` or `closed`.
    #[schema(value_type = String, example = "open")]
    pub status: TicketStatus,
    /// `low`, `normal`, `high` or `urgent`.
    #[schema(value_type = String, example = "normal")]
    pub priority: Priority,
    /// The channel the ticket started on.
    #[schema(value_type = String, example = "email")]
    pub channel: Channel,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<AgentId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    #[schema(value_type = Vec<String>, example = json!(["vip"]))]
    pub tags: Vec<Tag>,
    /// Bumped by every change; the `ETag` is `"<version>"`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub solved_at: Option<DateTime<Utc>>,
    /// When the soonest running SLA clock reaches its target (`GET /v1/tickets/{id}/sla`
    /// explains it); `null` when none runs.
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Snoozed until then (`POST /v1/tickets/{id}/snooze`): out of the default list.
    pub snoozed_until: Option<DateTime<Utc>>,
}

impl From<Ticket> for TicketView {
    fn from(t: Ticket) -> Self {
        Self {
            id: t.id,
            number: t.number,
            customer_id: t.customer_id,
            subject: t.subject,
            status: t.status,
            priority: t.priority,
            channel: t.channel,
            assignee_id: t.assignee_id,
            team_id: t.team_id,
            tags: t.tags,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
            solved_at: t.solved_at,
            sla_due_at: t.sla_due_at,
            snoozed_until: t.snoozed_until,
        }
    }
}

fn etag(ticket: &Ticket) -> String {
    format!("\"{}\"", ticket.version)
}

pub(crate) fn with_etag(mut response: actix_web::HttpResponseBuilder, ticket: Ticket) -> HttpResponse {
    response.insert_header((ETAG, etag(&ticket))).json(TicketView::from(ticket))
}

/// Reads something of a ticket (its reminders, surveys, routing): 404 when the ticket
/// does not exist, rather than an empty list.
pub(crate) async fn read_of_ticket<T: Send + 'static>(
    state: &AppState,
    id: TicketId,
    read: impl FnOnce(&mut braid_db::DbConn) -> Result<T, braid_db::DbError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .db
        .run(move |conn| {
            tickets::get(conn, id)?;
            read(conn)
        })
        .await
        .map_err(ticket_not_found)
}

pub(crate) fn ticket_not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("ticket with this id"),
        other => other.into(),
    }
}

fn tags(raw: Vec<String>) -> Result<Vec<Tag>, ApiError> {
    if raw.len() > Tag::MAX_PER_TICKET {
        return Err(ApiError::over_limit("tags", Tag::MAX_PER_TICKET));
    }
    raw.iter().map(|tag| Tag::parse(tag).map_err(ApiError::from)).collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "0190f5c4-0000-7000-8000-000000000000", "subject": "Called about a refund", "priority": "high", "message": {"text": "Ana called: order #881 never arrived, she wants a refund.", "kind": "customer"}}))]
pub struct NewTicketRequest {
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    pub subject: String,
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<AgentId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// At most 50.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub tags: Vec<String>,
    /// What the ticket starts with, in the same transaction: what the customer said (a
    /// phone call, logged as an inbound message) or an internal note.
    pub message: Option<FirstMessageRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstMessageRequest {
    pub text: String,
    /// `customer` (what the customer said; the default) or `note` (internal).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "customer")]
    pub kind: FirstMessageKind,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FirstMessageKind {
    #[default]
    Customer,
    Note,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenedTicket {
    #[serde(flatten)]
    pub ticket: TicketView,
    /// The first message, when one was given (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<crate::messages::MessageView>,
}

/// Open a ticket for a customer, with its first message if given (a phone call logged,
/// or a note), in one call.
#[utoipa::path(
    tag = "tickets",
    operation_id = "createTicket",
    request_body = NewTicketRequest,
    responses(
        (status = 201, description = "Opened; `message` is the first message, when one was given.", body = OpenedTicket, headers(("etag" = String))),
        responses::Auth, responses::BadInput, responses::NotFound,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/tickets")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewTicketRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let body = body.into_inner();
    let new = NewTicket {
        customer_id: body.customer_id,
        subject: Subject::parse(&body.subject)?,
        priority: body.priority.unwrap_or_default(),
        channel: Channel::Api,
        assignee_id: body.assignee_id,
        team_id: body.team_id,
        tags: tags(body.tags)?,
        at: braid_db::now(),
    };
    let first = match body.message {
        Some(first) => Some(tickets::FirstMessage {
            text: braid_core::text::multiline("message.text", &first.text, crate::messages::MAX_TEXT_CHARS)?,
            direction: match first.kind {
                FirstMessageKind::Customer => Direction::Inbound,
                FirstMessageKind::Note => Direction::Note,
            },
            author_agent_id: caller.agent_id(),
        }),
        None => None,
    };
    check_references(&state, new.assignee_id, new.team_id).await?;
    let (ticket, message) = state
        .db
        .run(move |conn| match first {
            Some(first) => tickets::open_with_message(conn, new, first).map(|(t, m)| (t, Some(m))),
            None => tickets::open(conn, new).map(|t| (t, None)),
        })
        .await
        .map_err(|e| match e {
            braid_db::DbError::NotFound => ApiError::not_found("customer with this id"),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/tickets/{}", ticket.id)))
        .insert_header((ETAG, etag(&ticket)))
        .json(OpenedTicket { ticket: ticket.into(), message: message.map(Into::into) }))
}

/// 422 when an assignee or team does not exist (or the agent is deactivated).
async fn check_references(state: &AppState, assignee: Option<AgentId>, team: Option<TeamId>) -> Result<(), ApiError> {
    let problem = state
        .db
        .run(move |conn| {
            if let Some(agent) = assignee {
                match braid_db::agents::get(conn, agent) {
                    Ok(agent) if agent.active => {}
                    Ok(_) | Err(braid_db::DbError::NotFound) => return Ok(Some("assignee_id")),
                    Err(other) => return Err(other),
                }
            }
            if let Some(team) = team
                && !braid_db::teams::is_active(conn, team)?
            {
                return Ok(Some("team_id"));
            }
            Ok(None)
        })
        .await?;
    match problem {
        Some(field) => {
            Err(ApiError::new(ErrorCode::ValidationFailed, format!("{field} names nothing that can take tickets"))
                .with_extra(serde_json::json!({ "field": field })))
        }
        None => Ok(()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// One status or several, comma-separated: `open,pending`.
    #[param(example = "open,pending")]
    pub status: Option<String>,
    /// An agent id, or `none` for unassigned tickets.
    pub assignee: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub team: Option<TeamId>,
    pub tag: Option<String>,
    #[param(value_type = Option<String>)]
    pub priority: Option<Priority>,
    /// The channel the ticket started on.
    #[param(value_type = Option<String>)]
    pub channel: Option<Channel>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub customer: Option<CustomerId>,
    /// Only tickets changed at or after this time (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// `exclude` (default: snoozed tickets are left out), `include` or `only`.
    #[param(example = "exclude")]
    pub snoozed: Option<String>,
    /// `-updated_at` (default), `updated_at`, `-created_at`, `created_at`, or `sla_due_at`
    /// (soonest SLA due time first; only tickets with a running SLA clock).
    #[param(example = "-updated_at")]
    pub sort: Option<String>,
}

impl TicketQuery {
    fn filter(&self) -> Result<TicketFilter, ApiError> {
        let statuses = match &self.status {
            Some(names) => names
                .split(',')
                .map(|s| s.trim().parse::<TicketStatus>().map_err(ApiError::from))
                .collect::<Result<_, _>>()?,
            None => vec![],
        };
        let assignee = match self.assignee.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(id) => Some(Some(id.parse::<AgentId>()?)),
        };
        Ok(TicketFilter {
            statuses,
            assignee,
            team: self.team,
            tag: self.tag.as_deref().map(Tag::parse).transpose()?,
            priority: self.priority,
            channel: self.channel,
            customer: self.customer,
            updated_since: self.updated_since,
            snoozed: match self.snoozed.as_deref() {
                None | Some("exclude") => Some(false),
                Some("include") => None,
                Some("only") => Some(true),
                Some(other) => {
                    return Err(ApiError::new(
                        ErrorCode::ValidationFailed,
                        format!("snoozed `{other}` is not one of exclude, include, only"),
                    )
                    .with_extra(serde_json::json!({ "field": "snoozed" })));
                }
            },
        })
    }

    fn sort(&self) -> Result<TicketSort, ApiError> {
        match self.sort.as_deref() {
            None | Some("-updated_at") => Ok(TicketSort::UpdatedDesc),
            Some("updated_at") => Ok(TicketSort::UpdatedAsc),
            Some("-created_at") => Ok(TicketSort::CreatedDesc),
            Some("created_at") => Ok(TicketSort::CreatedAsc),
            Some("sla_due_at") => Ok(TicketSort::SlaDue),
            Some(other) => Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("sort `{other}` is not one of -updated_at, updated_at, -created_at, created_at, sla_due_at"),
            )
            .with_extra(serde_json::json!({ "field": "sort" }))),
        }
    }
}

/// List tickets with filters; newest activity first by default.
#[utoipa::path(
    tag = "tickets",
    operation_id = "listTickets",
    params(TicketQuery, PageParams),
    responses((status = 200, description = "A page of tickets.", body = Paged<TicketView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/tickets")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<TicketQuery>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let (filter, sort) = (query.filter()?, query.sort()?);
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let page = state.db.run(move |conn| tickets::list(conn, &filter, sort, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, TicketView::from)))
}

/// Get a ticket; its `ETag` guards a later PATCH.
#[utoipa::path(
    tag = "tickets",
    operation_id = "getTicket",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The ticket; `ETag` is its version, for `If-Match`.", body = TicketView, headers(("etag" = String))), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/tickets/{id}")]
async fn get(state: web::Data<AppState>, caller: Principal, id: web::Path<TicketId>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let ticket = state.db.run(move |conn| tickets::get(conn, id)).await.map_err(ticket_not_found)?;
    Ok(with_etag(HttpResponse::Ok(), ticket))
}

/// Absent stays absent; `null` becomes `Some(None)`.
pub(crate) fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "pending", "assignee_id": null, "tags": ["refund"]}))]
pub struct TicketPatch {
    pub subject: Option<String>,
    /// Moves through the status machine: open, pending and on_hold move freely among
    /// themselves and to solved; solved reopens (open) or closes; closed is final.
    #[schema(value_type = Option<String>)]
    pub status: Option<TicketStatus>,
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    /// `null` unassigns.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid, nullable)]
    pub assignee_id: Option<Option<AgentId>>,
    /// `null` removes the team.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid, nullable)]
    pub team_id: Option<Option<TeamId>>,
    /// Replaces the tags (at most 50).
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
}

/// Change a ticket.
///
/// Send the `ETag` of the version you saw as `If-Match`: when someone changed the ticket
/// since, the answer is 412 and nothing changes. Without `If-Match` the change applies to
/// whatever version is current.
#[utoipa::path(
    tag = "tickets",
    operation_id = "updateTicket",
    params(
        ("id" = String, Path, format = Uuid),
        ("If-Match" = Option<String>, Header, description = "The `ETag` of the version being changed."),
    ),
    request_body = TicketPatch,
    responses(
        (status = 200, description = "The ticket as changed, with its new `ETag`.", body = TicketView, headers(("etag" = String))),
        (status = 412, description = "The ticket changed since that `ETag` (`precondition_failed`).", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth, responses::NotFound, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[patch("/v1/tickets/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    body: web::Json<TicketPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let expected = if_match(&req)?;
    let body = body.into_inner();
    let changes = TicketChanges {
        subject: body.subject.as_deref().map(Subject::parse).transpose()?,
        status: body.status,
        priority: body.priority,
        assignee_id: body.assignee_id,
        team_id: body.team_id,
        tags: body.tags.map(tags).transpose()?,
    };
    check_references(&state, changes.assignee_id.flatten(), changes.team_id.flatten()).await?;
    let id = id.into_inner();
    let ticket =
        state.db.run(move |conn| Ok(tickets::update(conn, id, expected, &changes))).await?.map_err(update_error)?;
    Ok(with_etag(HttpResponse::Ok(), ticket))
}

pub(crate) fn update_error(error: UpdateError) -> ApiError {
    match error {
        UpdateError::Stale { .. } => ApiError::new(ErrorCode::PreconditionFailed, error.to_string()),
        UpdateError::Transition { .. } => ApiError::new(ErrorCode::InvalidStatusTransition, error.to_string()),
        UpdateError::Db(db) => ticket_not_found(db),
    }
}

/// The version `If-Match` names: `"7"` (or `W/"7"`); `*` means any.
pub(crate) fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/").trim_matches('"').parse::<i64>().map(Some).map_err(|_| {
        ApiError::new(ErrorCode::PreconditionFailed, format!("If-Match `{text}` matches no version of this ticket"))
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"typing": true}))]
pub struct AgentTyping {
    pub typing: bool,
}

/// The agent is typing on this ticket (or stopped): the customer's chat visitor sees it,
/// and so does the live stream. Not stored.
#[utoipa::path(
    tag = "tickets",
    operation_id = "ticketTyping",
    params(("id" = String, Path, format = Uuid)),
    request_body = AgentTyping,
    responses((status = 204, description = "Sent."), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[post("/v1/tickets/{id}/typing")]
async fn typing(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    body: web::Json<AgentTyping>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let (id, agent) = (id.into_inner(), caller.agent_id());
    let (ticket, name) = state
        .db
        .run(move |conn| {
            let ticket = tickets::get(conn, id)?;
            let name = match agent {
                Some(agent) => Some(braid_db::agents::get(conn, agent)?.name.as_str().to_owned()),
                None => None,
            };
            Ok((ticket, name))
        })
        .await
        .map_err(ticket_not_found)?;
    state.live.signal(braid_live::Signal {
        kind: "typing".into(),
        customer_id: Some(ticket.customer_id.to_string()),
        ticket_id: Some(ticket.id.to_string()),
        payload: serde_json::json!({"by": "agent", "agent_id": agent, "name": name, "typing": body.typing}),
        origin: String::new(),
    });
    Ok(HttpResponse::NoContent().finish())
}
