//! `GET /widget/v1/ws`: the visitor's socket. After the `auth` frame it sends what the
//! visitor missed since `after` (or their history), then live frames, each with its
//! event-log position; it takes messages, typing and "seen" from the widget.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, web};
use braid_db::events::{Event, Position};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::frames::{Reader, catch_up, message_view};
use super::limits::Limit;
use super::messages::{mark_seen, parse_position, send, visitor_typing};
use super::{VisitorAuth, check_origin, visitor_of};
use crate::rates::address_key;
use crate::sockets::{self, Heard, Socket};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    /// The last position the widget saw: the socket first sends everything after it.
    pub after: Option<String>,
}

/// How long a socket's presence lasts without a refresh (a node that dies leaves it to
/// expire); refreshed every heartbeat.
const ONLINE_FOR: chrono::Duration = chrono::Duration::seconds(75);

/// The visitor's WebSocket.
///
/// Send `{"type":"auth","token":"<visitor token>"}` first, within 10 s. Then the server
/// sends `ready`, the frames after `after` (or the history), and live frames: `message`,
/// `message_updated`, `status`, `seen`, `typing`, each with a `position`. The widget sends
/// `{"type":"message","client_msg_id","text"}` (answered with `sent`; a repeated
/// `client_msg_id` is the first message), `{"type":"typing","typing":true}` and
/// `{"type":"seen","message_id"}`. Close codes: 4001 token refused, 4003 origin refused,
/// 4008 too slow (reconnect with `after`).
#[utoipa::path(
    tag = "widget",
    operation_id = "widgetSocket",
    params(SocketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol."),
        (status = 400, description = "Not a WebSocket upgrade, or a malformed `after`.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/widget/v1/ws")]
async fn connect(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Payload,
    query: web::Query<SocketQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = query.after.as_deref().map(parse_position).transpose()?;
    let address = address_key(crate::client::address(&request, &state.auth.trusted_proxies));
    state.chat.limits.admit(Limit::Reads, &address).await.map_err(super::too_many)?;
    let (response, session, stream) = actix_ws::handle(&request, body)
        .map_err(|e| ApiError::new(crate::ErrorCode::BadRequest, format!("not a WebSocket upgrade: {e}")))?;
    let socket = Socket::new(session, stream);
    actix_web::rt::spawn(run(state.into_inner(), socket, request, address, after));
    Ok(response)
}

async fn run(state: Arc<AppState>, mut socket: Socket, request: HttpRequest, address: String, after: Option<Position>) {
    let Some(token) = socket.auth_token().await else {
        return socket.close(sockets::UNAUTHORIZED, "send {\"type\":\"auth\",\"token\":…} first").await;
    };
    let auth = match visitor_of(&state, &token).await {
        Ok(auth) => auth,
        Err(error) => return socket.close(sockets::UNAUTHORIZED, &error.detail).await,
    };
    if let Err(error) = check_origin(&request, &auth.site) {
        return socket.close(sockets::FORBIDDEN, &error.detail).await;
    }
    // Subscribed before reading the database: whatever commits meanwhile comes live.
    let mut live = state.live.subscribe();
    let visitor = auth.visitor.clone();
    let start = state.db.run(move |conn| catch_up(conn, visitor, after)).await;
    let (mut reader, frames, mut last, reset) = match start {
        Ok(start) => start,
        Err(error) => {
            tracing::warn!(%error, "a visitor socket could not load its history");
            return socket.close(1011, "try again").await;
        }
    };
    if !socket.send(&json!({"type": "ready", "position": last.to_string(), "reset": reset})).await {
        return;
    }
    for frame in frames {
        if !socket.send(&frame).await {
            return;
        }
    }
    let mut customer = reader.customer_id();
    presence(&state, &auth, customer).await;

    let mut beat = tokio::time::interval(sockets::PING_EVERY);
    beat.tick().await;
    let why = loop {
        tokio::select! {
            event = live.events.recv() => match event {
                Ok(event) => {
                    if event.position <= last {
                        continue;
                    }
                    last = event.position;
                    if !reader.concerns(&event) {
                        continue;
                    }
                    match frames_for(&state, reader, event).await {
                        Ok((next, frames)) => {
                            reader = next;
                            customer = reader.customer_id();
                            for frame in frames {
                                if !socket.send(&frame).await {
                                    break;
                                }
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "a visitor socket could not read an event");
                            break (1011, "try again");
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => break (sockets::SLOW, "too far behind; reconnect with after"),
                Err(RecvError::Closed) => break (1001, "the server is stopping"),
            },
            signal = live.signals.recv() => {
                if let Ok(signal) = signal
                    && signal.kind == "typing"
                    && signal.payload["by"] == "agent"
                    && customer.is_some_and(|c| signal.customer_id.as_deref() == Some(c.to_string().as_str()))
                    && reader.may_see_ticket(signal.ticket_id.as_deref().and_then(|t| t.parse().ok()))
                {
                    let frame = json!({
                        "type": "typing",
                        "position": last.to_string(),
                        "by": "agent",
                        "name": signal.payload["name"],
                        "typing": signal.payload["typing"],
                    });
                    socket.send(&frame).await;
                }
            }
            heard = socket.hear() => match heard {
                Heard::Text(text) => {
                    let answer = take(&state, &auth, &address, &text).await;
                    if let Some(answer) = answer {
                        socket.send(&answer).await;
                    }
                    // The visitor's first message made them a customer: follow it.
                    if reader.customer.is_none() {
                        let visitor = reader.visitor.clone();
                        if let Ok(next) = state.db.run(move |conn| Reader::load(conn, visitor)).await {
                            reader = next;
                            customer = reader.customer_id();
                        }
                    }
                }
                Heard::Nothing => {}
                Heard::Gone => break (1000, "bye"),
            },
            _ = beat.tick() => {
                if !socket.beat().await {
                    break (1001, "no answer to pings");
                }
                // An expired visitor token (or a visitor gone) ends the socket: the widget
                // refreshes its session and reconnects with `after`.
                if visitor_of(&state, &token).await.is_err() {
                    break (sockets::UNAUTHORIZED, "the visitor token expired; refresh the session and reconnect");
                }
                presence(&state, &auth, customer).await;
            }
        }
    };
    gone(&state, &auth, customer);
    socket.close(why.0, why.1).await;
}

async fn frames_for(
    state: &AppState,
    mut reader: Reader,
    event: Arc<Event>,
) -> Result<(Reader, Vec<Value>), braid_db::DbError> {
    state
        .db
        .run(move |conn| {
            let frames = reader.frames(conn, &[event])?;
            Ok((reader, frames))
        })
        .await
}

/// Marks the visitor online for [`ONLINE_FOR`] (the fallback waits meanwhile), and tells
/// the agents.
async fn presence(state: &AppState, auth: &VisitorAuth, customer: Option<braid_core::CustomerId>) {
    let visitor = auth.visitor.id;
    let until = Some(braid_db::now() + ONLINE_FOR);
    if let Err(error) = state.db.run(move |conn| braid_db::chat::visitors::mark_online(conn, visitor, until)).await {
        tracing::warn!(%error, "visitor presence not recorded");
    }
    signal_presence(state, auth, customer, true);
}

/// A socket closed. Its presence is left to expire rather than cleared: another tab of the
/// same visitor may still be open, and its heartbeat keeps them online.
fn gone(state: &AppState, auth: &VisitorAuth, customer: Option<braid_core::CustomerId>) {
    signal_presence(state, auth, customer, false);
}

fn signal_presence(state: &AppState, auth: &VisitorAuth, customer: Option<braid_core::CustomerId>, online: bool) {
    if let Some(customer) = customer {
        state.live.signal(braid_live::Signal {
            kind: "presence".into(),
            customer_id: Some(customer.to_string()),
            ticket_id: None,
            payload: json!({"by": "visitor", "visitor_id": auth.visitor.id, "online": online}),
            origin: String::new(),
        });
    }
}

/// Carries out one frame from the widget; the answer to send back, if any.
async fn take(state: &AppState, auth: &VisitorAuth, address: &str, text: &str) -> Option<Value> {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return Some(sockets::error_frame("invalid_json", "frames are JSON objects with a `type`"));
    };
    let result = match frame["type"].as_str() {
        Some("message") => {
            let client_msg_id = frame["client_msg_id"].as_str().unwrap_or_default();
            let text = frame["text"].as_str().unwrap_or_default();
            match send(state, auth, address, client_msg_id, text).await {
                Ok((message, _)) => {
                    return Some(
                        json!({"type": "sent", "client_msg_id": client_msg_id, "message": message_view(&message)}),
                    );
                }
                Err(error) => Err(error),
            }
        }
        Some("typing") => visitor_typing(state, auth, frame["typing"].as_bool().unwrap_or(false)).await,
        Some("seen") => match frame["message_id"].as_str().and_then(|id| id.parse().ok()) {
            Some(message) => mark_seen(state, auth, message).await,
            None => return Some(sockets::error_frame("validation_failed", "seen needs a `message_id`")),
        },
        _ => return Some(sockets::error_frame("bad_request", "unknown frame type")),
    };
    match result {
        Ok(()) => None,
        Err(error) => {
            let mut frame = sockets::error_frame(error.code.as_str(), &error.detail);
            if let Some(id) = frame_client_id(text) {
                frame["client_msg_id"] = Value::String(id);
            }
            if let Some(extra) = error.extra {
                frame["extra"] = extra;
            }
            Some(frame)
        }
    }
}

fn frame_client_id(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).ok()?["client_msg_id"].as_str().map(str::to_owned)
}
