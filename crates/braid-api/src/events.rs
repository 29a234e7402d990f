//! `GET /v1/events`: the sync feed. The event log page by page from an opaque cursor, for
//! connectors and data pipelines that poll instead of holding a socket. The same events
//! as the live stream and webhooks, in the same JSON, with no artificial lag: a page ends
//! where the log stops being final (see braid-db's `events::feed`).

use actix_web::{HttpResponse, get, web};
use braid_core::{EventKind, Scope};
use braid_db::events::{Event, Feed, Position};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::responses;
use crate::{ApiError, AppState, ErrorCode, Principal};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// One event, as the feed, the live stream and webhooks carry it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "position": "7712.40213",
    "kind": "ticket.updated",
    "subject_id": "0190f5c4-0000-7000-8000-000000000002",
    "customer_id": "0190f5c4-0000-7000-8000-000000000001",
    "ticket_id": "0190f5c4-0000-7000-8000-000000000002",
    "payload": {"id": "0190f5c4-0000-7000-8000-000000000002", "number": 1042, "status": "solved"},
    "created_at": "2026-11-30T12:00:00Z"
}))]
pub struct EventView {
    /// Where the event sits in the log: pass it back as `after` (feed, stream) to resume
    /// after it. Opaque; compare positions only by the order the log gives them.
    pub position: String,
    /// What happened, like `message.created`.
    #[schema(value_type = String, example = "message.created")]
    pub kind: EventKind,
    /// The id of what changed (a ticket, a message, a customer…).
    pub subject_id: String,
    /// The customer the change belongs to, when it belongs to one.
    pub customer_id: Option<String>,
    /// The ticket the change belongs to, when it belongs to one.
    pub ticket_id: Option<String>,
    /// What changed, as it is after the change: the resource as the API shows it, or a
    /// record of its own. The schema of each kind's payload is its entry in the document's
    /// `webhooks`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<&Event> for EventView {
    fn from(event: &Event) -> Self {
        EventView {
            position: event.position.to_string(),
            kind: event.kind,
            subject_id: event.subject_id.clone(),
            customer_id: event.customer_id.clone(),
            ticket_id: event.ticket_id.clone(),
            payload: event.payload.clone(),
            created_at: event.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `next_cursor` of the previous page, or an event's `position` (from this feed,
    /// the stream or a webhook). Omitted: from the start of what the log keeps.
    pub after: Option<String>,
    /// Events per page, 1 to 1000. A page may hold a few more: it never ends inside a
    /// transaction.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<i64>,
    /// Comma-separated kinds (`ticket.created`), families (`message.*`) or `*`; omitted,
    /// every kind.
    #[param(example = "ticket.*,message.created")]
    pub types: Option<String>,
}

/// One page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub data: Vec<EventView>,
    /// Pass as `after` for the next page. Never null: with nothing new, poll again with it.
    pub next_cursor: String,
    /// More events are ready after `next_cursor`: fetch again at once. `false`: caught up,
    /// poll later (or hold the stream).
    pub has_more: bool,
}

/// The sync feed.
///
/// Every change Braid made, in log order, from a cursor: each event exactly once to a
/// reader that always passes back `next_cursor`. Events are final when returned: one
/// written by a transaction that has not committed yet comes in a later page, never
/// before events already returned. Needs `events:read`.
///
/// The log keeps events for `event_retention_days`; a cursor older than that (or one this
/// log never gave, as after a restore into another database) answers `410`
/// (`cursor_expired`) with `extra.restart_cursor`, the log's head: reload what you mirror
/// through the REST API, then follow the feed from there. A filtered page looks through at
/// most 50,000 positions: it may come back empty with `has_more` true. A transaction of
/// more than 10,000 events is split across pages.
#[utoipa::path(
    tag = "events",
    operation_id = "listEvents",
    params(FeedQuery),
    responses(
        (status = 200, description = "A page of events.", body = FeedPage),
        (status = 400, description = "A malformed cursor or an unknown type.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cursor is older than the log's retention (`cursor_expired`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A limit out of range.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/events")]
async fn feed(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let limit = match query.limit.unwrap_or(DEFAULT_LIMIT) {
        limit @ 1..=MAX_LIMIT => limit,
        other => {
            return Err(ApiError::new(ErrorCode::ValidationFailed, format!("limit is 1 to {MAX_LIMIT}, not {other}"))
                .with_extra(serde_json::json!({"field": "limit"})));
        }
    };
    let kinds = query.types.as_deref().map(parse_types).transpose()?.unwrap_or_default();
    let feed = state.db.run(move |conn| braid_db::events::feed(conn, after, limit, &kinds)).await?;
    match feed {
        Feed::Page(page) => Ok(HttpResponse::Ok().json(FeedPage {
            data: page.events.iter().map(EventView::from).collect(),
            next_cursor: page.next.to_string(),
            has_more: page.has_more,
        })),
        Feed::Expired { restart } => Err(ApiError::new(
            ErrorCode::CursorExpired,
            "the log cannot continue from this cursor (its events were pruned, or it is not one this log gave); \
             reload what you mirror, then follow from `restart_cursor`",
        )
        .with_extra(serde_json::json!({"restart_cursor": restart.to_string()}))),
    }
}

fn parse_cursor(text: &str) -> Result<Position, ApiError> {
    text.parse().map_err(|()| {
        ApiError::new(ErrorCode::BadRequest, "after: pass back a `next_cursor` or an event's `position` unchanged")
            .with_extra(serde_json::json!({"field": "after"}))
    })
}

/// The kinds `types` names; every kind when it names them all.
fn parse_types(text: &str) -> Result<Vec<EventKind>, ApiError> {
    EventKind::selected(text.split(',').map(str::trim)).map_err(|selector| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("types: `{selector}` names no event kind (a kind like `ticket.created`, a family like `message.*`, or `*`)"),
        )
        .with_extra(serde_json::json!({"field": "types"}))
    })
}
