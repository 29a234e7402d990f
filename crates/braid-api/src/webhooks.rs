//! Outbound webhooks (admin): endpoints that receive the event log as signed POSTs
//! (Standard Webhooks), their secrets and rotation, and the delivery log with redelivery.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use braid_core::{EventKind, Scope, WebhookId, webhook};
use braid_db::webhooks::{self, AttemptRecord, Change, Delivery, Endpoint};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, Principal};

/// Selectors one endpoint may list.
const MAX_SELECTORS: usize = 100;
/// The longest a rotated-out secret keeps signing: a week.
const MAX_OVERLAP_SECS: i64 = 7 * 86_400;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    #[schema(value_type = String, format = Uuid)]
    pub id: WebhookId,
    #[schema(example = "https://hooks.example.org/braid")]
    pub url: String,
    pub description: String,
    /// Event kinds (`ticket.created`), families (`message.*`) or `*`.
    #[schema(example = json!(["ticket.*", "message.created"]))]
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled: `by_hand`, `gone` (it answered 410) or `failing` (no success
    /// for five days). Enable it again with `PATCH {"enabled": true}`.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` while it succeeds.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookView {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            events: e.events,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret (`whsec_…`), shown only now.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.org/braid", "events": ["ticket.*", "message.created"], "description": "CRM sync"}))]
pub struct NewWebhook {
    pub url: String,
    /// Kinds, families (`message.*`) or `*`; every event when left out.
    #[schema(max_items = 100)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct WebhookPatch {
    pub url: Option<String>,
    #[schema(max_items = 100)]
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// `false` pauses deliveries (they wait); `true` resumes them.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"overlap_secs": 86400}))]
pub struct Rotation {
    /// How long the secrets in use now keep signing beside the new one, 0 to 604800
    /// seconds; a day when left out.
    pub overlap_secs: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new signing secret, shown only now.
    pub secret: String,
    /// Until then every delivery carries a signature by the old secrets too.
    pub previous_expire_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` every attempt of this delivery carries.
    #[schema(example = "msg_0190f5c4000070008000000000000001")]
    pub id: String,
    #[schema(example = "ticket.created")]
    pub kind: String,
    /// The event's position in the log.
    pub position: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(example = "delivered")]
    pub state: String,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// The attempt's number in its round (redelivery starts a new round at 1).
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The answer's status; `null` when there was none (refused, timed out).
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// The first KiB of the answer's body.
    pub response: Option<String>,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            latency_ms: a.latency_ms,
            error: a.error,
            response: a.response,
        }
    }
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            kind: d.kind,
            position: d.position,
            state: d.state,
            next_attempt_at: d.next_attempt_at,
            attempts: d.attempts.into_iter().map(AttemptView::from).collect(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Only deliveries in this state: `pending`, `delivered` or `failed`.
    pub state: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-11-29T00:00:00Z"}))]
pub struct Recovery {
    /// Failed deliveries created at or after this time are queued again.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Requeued {
    /// How many deliveries were queued again.
    pub requeued: usize,
}

fn selectors(input: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let input = input.unwrap_or_else(|| vec!["*".into()]);
    if input.is_empty() {
        return Err(braid_core::InvalidValue::new("events", "at least one kind, family (`message.*`) or `*`").into());
    }
    if input.len() > MAX_SELECTORS {
        return Err(ApiError::over_limit("events", MAX_SELECTORS));
    }
    let mut selectors = Vec::with_capacity(input.len());
    for selector in input {
        let selector = selector.trim().to_owned();
        if EventKind::matching(&selector).is_none() {
            return Err(braid_core::InvalidValue::new(
                "events",
                format!(
                    "`{selector}` names no event kind (a kind like `ticket.created`, a family like `message.*`, or `*`)"
                ),
            )
            .into());
        }
        if !selectors.contains(&selector) {
            selectors.push(selector);
        }
    }
    Ok(selectors)
}

fn description(input: &str) -> Result<String, ApiError> {
    let description = input.trim();
    if description.chars().count() > 500 || description.chars().any(|c| c.is_control() && c != '\n') {
        return Err(
            braid_core::InvalidValue::new("description", "at most 500 characters, no control characters").into()
        );
    }
    Ok(description.to_owned())
}

pub(crate) async fn target(state: &AppState, url: &str) -> Result<String, ApiError> {
    if url.len() > 2000 {
        return Err(braid_core::InvalidValue::new("url", "at most 2000 characters").into());
    }
    braid_channels::webhooks::check_target(url, state.webhooks.allow_private_targets)
        .await
        .map(|url| url.to_string())
        .map_err(|error| braid_core::InvalidValue::new("url", error.to_string()).into())
}

/// How long a rotated secret keeps signing: `overlap_secs`, a day when left out.
pub(crate) fn overlap(overlap_secs: Option<i64>) -> Result<chrono::Duration, ApiError> {
    let overlap = overlap_secs.unwrap_or(86_400);
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
        return Err(braid_core::InvalidValue::new("overlap_secs", "0 to 604800 seconds").into());
    }
    Ok(chrono::Duration::seconds(overlap))
}

fn secret() -> String {
    webhook::new_secret(rand::random())
}

fn not_found() -> ApiError {
    ApiError::not_found("webhook with this id")
}

/// Register a webhook endpoint. It receives every event written from now on that its
/// `events` select, as a signed `POST` (Standard Webhooks: `webhook-id`,
/// `webhook-timestamp`, `webhook-signature`), body `{"type", "timestamp", "data"}` where
/// `data` is the event as the feed and the stream carry it.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "createWebhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered; `secret` is shown only now.", body = CreatedWebhook),
        (status = 422, description = "A URL that is not http(s), does not resolve or reaches a private address; an unknown event kind.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/webhooks")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let url = target(&state, &body.url).await?;
    let (events, description, secret) = (selectors(body.events)?, description(&body.description)?, secret());
    let signing = secret.clone();
    let endpoint = state
        .db
        .run(move |conn| webhooks::create(conn, &url, &description, &events, &signing, braid_db::now()))
        .await?;
    let mut response = HttpResponse::Created()
        .insert_header(("location", format!("/v1/webhooks/{}", endpoint.id)))
        .json(CreatedWebhook { webhook: endpoint.into(), secret });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// List webhook endpoints, oldest first.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "listWebhooks",
    params(PageParams),
    responses((status = 200, description = "A page of endpoints.", body = Paged<WebhookView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/webhooks")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (cursor, limit) = (page.cursor()?, page.limit()?);
    let page = state.db.run(move |conn| webhooks::list(conn, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, WebhookView::from)))
}

/// One webhook endpoint.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "getWebhook",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The endpoint.", body = WebhookView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/webhooks/{id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let endpoint = state.db.run(move |conn| webhooks::get(conn, id)).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(WebhookView::from(endpoint)))
}

/// Change an endpoint: its URL, events, description, or pause and resume it. Enabling
/// one that was disabled (by hand, for answering 410, or for failing for days) resumes
/// its waiting deliveries.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "updateWebhook",
    params(("id" = String, Path, format = Uuid)),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "Changed.", body = WebhookView),
        (status = 422, description = "A URL or event kind refused.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth, responses::BadInput, responses::NotFound,
    ),
    security(("bearer" = [])),
)]
#[patch("/v1/webhooks/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<WebhookId>,
    body: web::Json<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    let change = Change {
        url: match body.url {
            Some(url) => Some(target(&state, &url).await?),
            None => None,
        },
        description: body.description.as_deref().map(description).transpose()?,
        events: body.events.map(|events| selectors(Some(events))).transpose()?,
        enabled: body.enabled,
    };
    let endpoint =
        state.db.run(move |conn| webhooks::update(conn, id, change, braid_db::now())).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(WebhookView::from(endpoint)))
}

/// Delete an endpoint, its secrets and its delivery log. Nothing more is sent to it.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "deleteWebhook",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted."), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/webhooks/{id}")]
async fn remove(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    if !state.db.run(move |conn| webhooks::delete(conn, id, braid_db::now())).await? {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate the signing secret. The new one signs from now on; the ones in use keep signing
/// beside it (a second signature in `webhook-signature`) for `overlap_secs`, so the
/// receiver can switch without losing a delivery.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "rotateWebhookSecret",
    params(("id" = String, Path, format = Uuid)),
    request_body = Rotation,
    responses((status = 201, description = "The new secret, shown only now.", body = RotatedSecret), responses::Auth, responses::BadInput, responses::NotFound),
    security(("bearer" = [])),
)]
#[post("/v1/webhooks/{id}/secrets")]
async fn rotate(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<WebhookId>,
    body: web::Json<Rotation>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let now = braid_db::now();
    let until = now + overlap(body.overlap_secs)?;
    let secret = secret();
    let signing = secret.clone();
    if !state.db.run(move |conn| webhooks::rotate(conn, id, &signing, until, now)).await? {
        return Err(not_found());
    }
    let mut response = HttpResponse::Created().json(RotatedSecret { secret, previous_expire_at: until });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// An endpoint's delivery log, newest first: every attempt with its status code, latency
/// and the start of the answer.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "listWebhookDeliveries",
    params(("id" = String, Path, format = Uuid), DeliveryFilter, PageParams),
    responses((status = 200, description = "A page of deliveries.", body = Paged<DeliveryView>), responses::Auth, responses::NotFound, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/webhooks/{id}/deliveries")]
async fn deliveries(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<WebhookId>,
    filter: web::Query<DeliveryFilter>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let wanted = match filter.state.as_deref() {
        None => None,
        Some(s @ ("pending" | "delivered" | "failed")) => Some(s.to_owned()),
        Some(_) => return Err(braid_core::InvalidValue::new("state", "`pending`, `delivered` or `failed`").into()),
    };
    let (cursor, limit) = (page.cursor()?, page.limit()?);
    let page = state
        .db
        .run(move |conn| {
            if webhooks::get(conn, id)?.is_none() {
                return Err(braid_db::DbError::NotFound);
            }
            webhooks::deliveries(conn, id, wanted.as_deref(), cursor.as_ref(), limit)
        })
        .await
        .map_err(|error| match error {
            braid_db::DbError::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, DeliveryView::from)))
}

/// Deliver one again, due now, with a new round of attempts and the same `webhook-id`.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "redeliverWebhook",
    params(("id" = String, Path, format = Uuid), ("delivery" = String, Path)),
    responses((status = 202, description = "Queued."), responses::Auth, responses::NotFound,
        (status = 409, description = "An attempt is under way (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])),
)]
#[post("/v1/webhooks/{id}/deliveries/{delivery}/redeliver")]
async fn redeliver(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(WebhookId, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (id, delivery) = path.into_inner();
    match state.db.run(move |conn| webhooks::redeliver(conn, id, &delivery, braid_db::now())).await? {
        webhooks::Redelivery::Queued => Ok(HttpResponse::Accepted().finish()),
        webhooks::Redelivery::InFlight => Err(ApiError::new(
            crate::ErrorCode::Conflict,
            "an attempt of this delivery is under way; redeliver it once it is done",
        )),
        webhooks::Redelivery::NotFound => Err(ApiError::not_found("delivery of this webhook with this id")),
    }
}

/// Queue again every failed delivery of the endpoint created since a time (after the
/// receiver was down longer than the retries last).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "recoverWebhookDeliveries",
    params(("id" = String, Path, format = Uuid)),
    request_body = Recovery,
    responses((status = 202, description = "Queued again.", body = Requeued), responses::Auth, responses::BadInput, responses::NotFound),
    security(("bearer" = [])),
)]
#[post("/v1/webhooks/{id}/recover")]
async fn recover(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<WebhookId>,
    body: web::Json<Recovery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (id, since) = (id.into_inner(), body.since);
    let requeued = state
        .db
        .run(move |conn| {
            if webhooks::get(conn, id)?.is_none() {
                return Ok(None);
            }
            webhooks::recover(conn, id, since, braid_db::now()).map(Some)
        })
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Accepted().json(Requeued { requeued }))
}

/// What webhooks need from settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookConfig {
    /// Targets may resolve to private, loopback and link-local addresses (tests, trusted
    /// networks).
    pub allow_private_targets: bool,
}

/// The body of a webhook for an event: `{"type", "timestamp", "data"}`, `data` being the
/// event as the feed and the stream carry it.
pub fn body(event: &braid_db::events::Event) -> Result<String, braid_db::DbError> {
    Ok(serde_json::to_string(&serde_json::json!({
        "type": event.kind.as_str(),
        "timestamp": event.created_at,
        "data": crate::events::EventView::from(event),
    }))?)
}
