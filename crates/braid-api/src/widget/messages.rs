//! A visitor's messages over REST: the fallback for each thing the socket does (send,
//! read from a position, seen, typing).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use braid_db::events::Position;
use braid_db::placement;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::frames;
use super::limits::Limit;
use super::{VisitorAuth, too_many};
use crate::error::responses;
use crate::rates::address_key;
use crate::{ApiError, AppState, ErrorCode};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_msg_id": "c-0190f5c4-7a1b", "text": "Hi, where is my order?"}))]
pub struct NewVisitorMessage {
    /// The widget's own id for the message (1 to 100 printable ASCII characters). Sending
    /// the same id again returns the first message: retries never make a second one.
    pub client_msg_id: String,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentMessage {
    /// The message as the visitor sees it.
    #[schema(value_type = Object)]
    pub message: serde_json::Value,
}

/// Sends a visitor's message: checks it, rates it, places it. `(message, repeat)`.
pub async fn send(
    state: &AppState,
    auth: &VisitorAuth,
    address: &str,
    client_msg_id: &str,
    text: &str,
) -> Result<(braid_db::messages::Message, bool), ApiError> {
    let limits = &state.chat.limits;
    limits.admit(Limit::MessagesPerVisitor, &auth.visitor.id.to_string()).await.map_err(too_many)?;
    limits.admit(Limit::MessagesPerAddress, address).await.map_err(too_many)?;
    if !braid_channels::chat::valid_client_id(client_msg_id) {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "client_msg_id: 1 to 100 printable ASCII characters")
            .with_extra(serde_json::json!({"field": "client_msg_id"})));
    }
    let text = braid_core::text::multiline("text", text, state.chat.max_message_chars)?;
    let visitor = auth.visitor.clone();
    let inbound = braid_channels::chat::inbound(
        visitor.id,
        &visitor.identity,
        visitor.verified,
        None,
        client_msg_id,
        &text,
        braid_db::now(),
    );
    let policy = state.placement;
    let placed = state.db.run(move |conn| placement::place(conn, &inbound, &policy)).await?;
    state.live.wake();
    Ok((placed.message, placed.duplicate))
}

/// Send a message as the visitor.
#[utoipa::path(
    tag = "widget",
    operation_id = "sendWidgetMessage",
    request_body = NewVisitorMessage,
    responses(
        (status = 201, description = "Stored.", body = SentMessage),
        (status = 200, description = "This `client_msg_id` was sent before: the first message.", body = SentMessage),
        (status = 429, description = "Too many messages from this visitor or address; see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::VisitorAuth, responses::BadInput,
    ),
    security(("visitor" = [])),
)]
#[post("/widget/v1/messages")]
async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: VisitorAuth,
    body: web::Json<NewVisitorMessage>,
) -> Result<HttpResponse, ApiError> {
    let address = address_key(crate::client::address(&request, &state.auth.trusted_proxies));
    let (message, repeat) = send(&state, &auth, &address, &body.client_msg_id, &body.text).await?;
    let view = SentMessage { message: frames::message_view(&message) };
    Ok(if repeat { HttpResponse::Ok().json(view) } else { HttpResponse::Created().json(view) })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FramesQuery {
    /// A position from an earlier frame: what happened after it. Without it, the history
    /// the visitor may read and the position to follow from.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FramesPage {
    /// Frames as the socket sends them (`message`, `message_updated`, `status`, `seen`).
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<serde_json::Value>,
    /// Where to continue from (`after=`).
    pub position: String,
    /// `after` was too far behind (or ahead): `data` is the visitor's history instead, to
    /// show in place of what the widget holds.
    pub reset: bool,
}

/// What the visitor may read after a position (the socket's replay, over REST).
#[utoipa::path(
    tag = "widget",
    operation_id = "listWidgetMessages",
    params(FramesQuery),
    responses((status = 200, description = "Frames after the position.", body = FramesPage), responses::VisitorAuth, responses::BadQuery),
    security(("visitor" = [])),
)]
#[get("/widget/v1/messages")]
async fn list(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: VisitorAuth,
    query: web::Query<FramesQuery>,
) -> Result<HttpResponse, ApiError> {
    let address = address_key(crate::client::address(&request, &state.auth.trusted_proxies));
    state.chat.limits.admit(Limit::Reads, &address).await.map_err(too_many)?;
    let after = query.after.as_deref().map(parse_position).transpose()?;
    let visitor = auth.visitor.clone();
    let (_, data, position, reset) = state.db.run(move |conn| frames::catch_up(conn, visitor, after)).await?;
    Ok(HttpResponse::Ok().json(FramesPage { data, position: position.to_string(), reset }))
}

pub fn parse_position(text: &str) -> Result<Position, ApiError> {
    text.parse().map_err(|()| {
        ApiError::new(ErrorCode::BadRequest, "after: a position from a frame, like `123.45`")
            .with_extra(serde_json::json!({"field": "after"}))
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message_id": "0190f5c4-0000-7000-8000-000000000001"}))]
pub struct SeenUpTo {
    /// The latest message the visitor has on screen.
    #[schema(value_type = String, format = Uuid)]
    pub message_id: braid_core::MessageId,
}

/// The visitor saw their conversation up to a message (read receipts for agents; a chat
/// reply seen is never sent by email).
#[utoipa::path(
    tag = "widget",
    operation_id = "markWidgetSeen",
    request_body = SeenUpTo,
    responses((status = 204, description = "Recorded."), responses::VisitorAuth, responses::NotFound, responses::BadInput),
    security(("visitor" = [])),
)]
#[post("/widget/v1/seen")]
async fn seen(
    state: web::Data<AppState>,
    auth: VisitorAuth,
    body: web::Json<SeenUpTo>,
) -> Result<HttpResponse, ApiError> {
    mark_seen(&state, &auth, body.message_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn mark_seen(state: &AppState, auth: &VisitorAuth, message: braid_core::MessageId) -> Result<(), ApiError> {
    state.chat.limits.admit(Limit::Signals, &auth.visitor.id.to_string()).await.map_err(too_many)?;
    let visitor = auth.visitor.clone();
    state.db.run(move |conn| braid_db::chat::visitors::mark_seen(conn, &visitor, message)).await.map_err(|error| {
        match error {
            braid_db::DbError::NotFound => ApiError::not_found("message of this visitor with this id"),
            other => other.into(),
        }
    })?;
    state.live.wake();
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"typing": true}))]
pub struct Typing {
    pub typing: bool,
}

/// The visitor is typing (or stopped): agents see it live. Not stored.
#[utoipa::path(
    tag = "widget",
    operation_id = "widgetTyping",
    request_body = Typing,
    responses((status = 204, description = "Sent to the agents."), responses::VisitorAuth, responses::BadInput),
    security(("visitor" = [])),
)]
#[post("/widget/v1/typing")]
async fn typing(
    state: web::Data<AppState>,
    auth: VisitorAuth,
    body: web::Json<Typing>,
) -> Result<HttpResponse, ApiError> {
    visitor_typing(&state, &auth, body.typing).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn visitor_typing(state: &AppState, auth: &VisitorAuth, on: bool) -> Result<(), ApiError> {
    state.chat.limits.admit(Limit::Signals, &auth.visitor.id.to_string()).await.map_err(too_many)?;
    let visitor = auth.visitor.clone();
    let customer = state.db.run(move |conn| braid_db::chat::visitors::customer_of(conn, &visitor)).await?;
    // Nobody to tell before the visitor's first message.
    if let Some((customer, _, _)) = customer {
        state.live.signal(braid_live::Signal {
            kind: "typing".into(),
            customer_id: Some(customer.to_string()),
            ticket_id: None,
            payload: serde_json::json!({"by": "visitor", "visitor_id": auth.visitor.id, "typing": on}),
            origin: String::new(),
        });
    }
    Ok(())
}
