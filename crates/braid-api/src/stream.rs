//! `GET /v1/stream`: every event of the log, live, over a WebSocket, for agents' inboxes
//! and integrations; with the signals that are never stored (typing, presence).

use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use braid_core::Scope;
use braid_db::events::{Event, Position};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::sockets::{self, Heard, Socket};
use crate::widget::messages::parse_position;
use crate::{ApiError, AppState, Principal, principal};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The last position the client saw (or send it as `Last-Event-ID`): the stream first
    /// sends every event after it, from the database.
    pub after: Option<String>,
}

/// Events read from the database per query while catching up.
const PAGE: i64 = 500;

/// The live stream.
///
/// Credentials: `Authorization: Bearer` (an agent's access token or an API key) on the
/// upgrade, or, from a browser, a first frame `{"type":"auth","token":"…"}` within 10 s.
/// It needs `tickets:read` and `customers:read`: events carry customers' messages.
///
/// Frames: `{"type":"event","position","kind","subject_id","customer_id","ticket_id",
/// "payload","created_at"}` for each event in log order, and `typing` / `presence`
/// signals (`position`: the last event's). Reconnect with `after=<last position>`: nothing
/// is missed and nothing repeated. Send `{"type":"typing","customer_id","ticket_id",
/// "typing":true}` to show a visitor the agent is typing. Close codes: 4001 credentials
/// refused, 4003 a scope is missing, 4008 too slow (reconnect with `after`), 4010 `after` is
/// older than the log keeps (reload, reconnect without it).
#[utoipa::path(
    tag = "stream",
    operation_id = "stream",
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "The same as `after`.")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol."),
        (status = 400, description = "Not a WebSocket upgrade, or a malformed position.", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::responses::Auth,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/stream")]
async fn connect(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Payload,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let last_event_id = request.headers().get("last-event-id").and_then(|v| v.to_str().ok());
    let after = query.after.as_deref().or(last_event_id).map(parse_position).transpose()?;
    // Credentials on the upgrade are checked before it: a refusal is a plain 401/403.
    let upgrade = request.headers().get("upgrade").is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let caller = match request.headers().get(AUTHORIZATION) {
        Some(header) => {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, header.clone());
            Some((authorized(&state, &headers).await?, headers))
        }
        // Without credentials only an upgrade may go on, to send them in its first frame.
        None if !upgrade => {
            return Err(ApiError::new(
                crate::ErrorCode::Unauthorized,
                "send `Authorization: Bearer <token>`, or upgrade and send an `auth` frame",
            ));
        }
        None => None,
    };
    let (response, session, stream) = actix_ws::handle(&request, body)
        .map_err(|e| ApiError::new(crate::ErrorCode::BadRequest, format!("not a WebSocket upgrade: {e}")))?;
    actix_web::rt::spawn(run(state.into_inner(), Socket::new(session, stream), caller, after));
    Ok(response)
}

async fn authorized(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let caller = principal::authenticate(state, headers).await?;
    caller.require(Scope::TicketsRead)?;
    caller.require(Scope::CustomersRead)?;
    Ok(caller)
}

async fn run(
    state: Arc<AppState>,
    mut socket: Socket,
    caller: Option<(Principal, HeaderMap)>,
    after: Option<Position>,
) {
    let (caller, credentials) = match caller {
        Some(caller) => caller,
        None => {
            let Some(token) = socket.auth_token().await else {
                return socket.close(sockets::UNAUTHORIZED, "send {\"type\":\"auth\",\"token\":…} first").await;
            };
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                headers.insert(AUTHORIZATION, value);
            }
            match authorized(&state, &headers).await {
                Ok(caller) => (caller, headers),
                Err(error) if error.code == crate::ErrorCode::Forbidden => {
                    return socket.close(sockets::FORBIDDEN, &error.detail).await;
                }
                Err(error) => return socket.close(sockets::UNAUTHORIZED, &error.detail).await,
            }
        }
    };
    let mut live = state.live.subscribe();
    let mut last = match after {
        Some(after) => after,
        None => match state.db.run(braid_db::events::head).await {
            Ok(head) => head,
            Err(_) => return socket.close(1011, "try again").await,
        },
    };
    if !socket.send(&json!({"type": "ready", "position": last.to_string()})).await {
        return;
    }
    // Catch up from the database, page by page; live events already heard are skipped
    // below by their position. Retention is checked after each read, as the feed does: a
    // prune that reached past where the read began may have taken events from under it,
    // and that ends the stream with 4010 instead of a silent gap.
    loop {
        let from = last;
        let read = state
            .db
            .run(move |conn| {
                let page = braid_db::events::since(conn, Some(from), PAGE)?;
                Ok((page, braid_db::events::pruned_through(conn)?))
            })
            .await;
        let page = match read {
            Ok((_, pruned)) if from < pruned => {
                return socket
                    .close(
                        sockets::EXPIRED,
                        "after is older than the event log keeps; reload, then reconnect without it",
                    )
                    .await;
            }
            Ok((page, _)) => page,
            Err(_) => return socket.close(1011, "try again").await,
        };
        let full = page.len() as i64 == PAGE;
        for event in page {
            last = event.position;
            if !socket.send(&event_frame(&event)).await {
                return;
            }
        }
        if !full {
            break;
        }
    }
    let agent = caller.agent_id();
    presence(&state, agent, true);
    heartbeat(&state, agent);
    let mut beat = tokio::time::interval(sockets::PING_EVERY);
    beat.tick().await;
    let why = loop {
        tokio::select! {
            event = live.events.recv() => match event {
                Ok(event) if event.position <= last => {}
                Ok(event) => {
                    last = event.position;
                    if !socket.send(&event_frame(&event)).await {
                        break (1000, "closed");
                    }
                }
                Err(RecvError::Lagged(_)) => break (sockets::SLOW, "too far behind; reconnect with after"),
                Err(RecvError::Closed) => break (1001, "the server is stopping"),
            },
            signal = live.signals.recv() => {
                if let Ok(signal) = signal {
                    let mut frame = json!({
                        "type": signal.kind,
                        "position": last.to_string(),
                        "customer_id": signal.customer_id,
                        "ticket_id": signal.ticket_id,
                    });
                    if let (Some(frame), Some(payload)) = (frame.as_object_mut(), signal.payload.as_object()) {
                        for (key, value) in payload {
                            frame.entry(key.clone()).or_insert(value.clone());
                        }
                    }
                    socket.send(&frame).await;
                }
            }
            heard = socket.hear() => match heard {
                Heard::Text(text) => {
                    if let Some(answer) = take(&state, &caller, &text).await {
                        socket.send(&answer).await;
                    }
                }
                Heard::Nothing => {}
                Heard::Gone => break (1000, "bye"),
            },
            _ = beat.tick() => {
                if !socket.beat().await {
                    break (1001, "no answer to pings");
                }
                // The credential is checked again: a sign-out, a password change, a
                // deactivation, a revoked key or an expired token ends the stream.
                if authorized(&state, &credentials).await.is_err() {
                    break (sockets::UNAUTHORIZED, "the credentials ended; sign in and reconnect with after");
                }
                heartbeat(&state, agent);
            }
        }
    };
    presence(&state, agent, false);
    socket.close(why.0, why.1).await;
}

/// The feed's JSON of the event, with `"type": "event"`.
fn event_frame(event: &Event) -> Value {
    let mut frame = json!({"type": "event"});
    if let (Some(frame), Ok(Value::Object(view))) =
        (frame.as_object_mut(), serde_json::to_value(crate::events::EventView::from(event)))
    {
        frame.extend(view);
    }
    frame
}

/// An open stream keeps its agent's presence lease (the status they set stays), off the
/// socket's loop so events never wait for it.
fn heartbeat(state: &Arc<AppState>, agent: Option<braid_core::AgentId>) {
    let Some(agent) = agent else { return };
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let result = state.db.run(move |conn| braid_db::routing::heartbeat(conn, agent, None, braid_db::now())).await;
        if let Err(error) = result {
            tracing::warn!(%agent, %error, "the stream could not renew the agent's presence");
        }
    });
}

fn presence(state: &AppState, agent: Option<braid_core::AgentId>, online: bool) {
    if let Some(agent) = agent {
        state.live.signal(braid_live::Signal {
            kind: "presence".into(),
            customer_id: None,
            ticket_id: None,
            payload: json!({"by": "agent", "agent_id": agent, "online": online}),
            origin: String::new(),
        });
    }
}

/// A frame from the client: typing, shown to the visitor of that customer.
async fn take(state: &AppState, caller: &Principal, text: &str) -> Option<Value> {
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame["type"] != "typing" {
        return Some(sockets::error_frame("bad_request", "the stream takes `typing` frames only"));
    }
    let Some(customer) = frame["customer_id"].as_str().filter(|c| c.parse::<braid_core::CustomerId>().is_ok()) else {
        return Some(sockets::error_frame("validation_failed", "typing needs a `customer_id`"));
    };
    let name = match caller.agent_id() {
        Some(agent) => {
            state.db.run(move |conn| braid_db::agents::get(conn, agent)).await.ok().map(|a| a.name.as_str().to_owned())
        }
        None => None,
    };
    state.live.signal(braid_live::Signal {
        kind: "typing".into(),
        customer_id: Some(customer.to_owned()),
        ticket_id: frame["ticket_id"].as_str().map(str::to_owned),
        payload: json!({"by": "agent", "agent_id": caller.agent_id(), "name": name, "typing": frame["typing"].as_bool().unwrap_or(false)}),
        origin: String::new(),
    });
    None
}
