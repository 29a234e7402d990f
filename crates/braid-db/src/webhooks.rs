//! Outbound webhooks' storage: endpoints with their signing secrets, and the durable
//! delivery queue the dispatcher fills from the event log and the delivery worker drains.
//!
//! Each endpoint follows the log from its own position: [`dispatch`] turns the events
//! after it into deliveries and moves it, in one transaction under the endpoint's lock, so
//! an event becomes exactly one delivery per endpoint however many nodes dispatch.

use braid_core::{EventKind, WebhookId};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::{self, Feed, NewEvent, Position};
use crate::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_secrets};
use crate::{Cursor, DbConn, DbError, Page, dialect, from_db, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    pub id: WebhookId,
    pub url: String,
    pub description: String,
    /// Event selectors: kinds, families (`message.*`) or `*`.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why it was disabled, when it was not by hand: `gone` (it answered 410) or
    /// `failing` (no success for days).
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed; `None` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointRow {
    id: String,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl EndpointRow {
    fn into_endpoint(self) -> Result<Endpoint, DbError> {
        Ok(Endpoint {
            id: self.id.parse()?,
            url: self.url,
            description: self.description,
            events: serde_json::from_str(&self.events)?,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            failing_since: self.failing_since.map(from_db),
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

/// The kinds an endpoint's selectors name (empty: every kind). They were checked when
/// registered; one that names nothing now is passed over.
fn kinds(selectors: &[String]) -> Vec<EventKind> {
    let known = selectors.iter().map(String::as_str).filter(|s| EventKind::matching(s).is_some());
    EventKind::selected(known).unwrap_or_default()
}

/// An event about an endpoint. Its URL may hold a token in its path, and events reach
/// every reader of the log: they carry only its origin.
fn event(kind: EventKind, endpoint: &Endpoint, at: DateTime<Utc>) -> Result<NewEvent, DbError> {
    let mut shown = endpoint.clone();
    shown.url = origin(&endpoint.url);
    NewEvent::new(kind, endpoint.id, &shown, at)
}

/// `scheme://host[:port]` of a URL (all of it when it has no path).
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(end) => url[..after_scheme + end].to_owned(),
        None => url.to_owned(),
    }
}

/// Serialises changes to one endpoint (PostgreSQL; SQLite's writer is single already):
/// admin changes, deletion and rotation never interleave.
fn lock(conn: &mut DbConn, id: WebhookId) -> Result<(), DbError> {
    dialect::lock_key(conn, &format!("webhook.{id}"))
}

/// Registers an endpoint with its first signing secret. It receives the events written
/// from now on.
pub fn create(
    conn: &mut DbConn,
    url: &str,
    description: &str,
    selectors: &[String],
    secret: &str,
    at: DateTime<Utc>,
) -> Result<Endpoint, DbError> {
    dialect::write_transaction(conn, |conn| {
        let id = WebhookId::new();
        let start = events::head(conn)?;
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::id.eq(id.to_string()),
                webhook_endpoints::url.eq(url),
                webhook_endpoints::description.eq(description),
                webhook_endpoints::events.eq(serde_json::to_string(selectors)?),
                webhook_endpoints::enabled.eq(true),
                webhook_endpoints::cursor_tx.eq(start.tx),
                webhook_endpoints::cursor_seq.eq(start.seq),
                webhook_endpoints::created_at.eq(to_db(at)),
                webhook_endpoints::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        add_secret(conn, id, secret, at)?;
        let endpoint = get(conn, id)?.ok_or(DbError::NotFound)?;
        events::append(conn, vec![event(EventKind::WebhookCreated, &endpoint, at)?])?;
        Ok(endpoint)
    })
}

fn add_secret(conn: &mut DbConn, id: WebhookId, secret: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::insert_into(webhook_secrets::table)
        .values((
            webhook_secrets::id.eq(uuid::Uuid::now_v7().to_string()),
            webhook_secrets::endpoint_id.eq(id.to_string()),
            webhook_secrets::secret.eq(secret),
            webhook_secrets::created_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: WebhookId) -> Result<Option<Endpoint>, DbError> {
    let row: Option<EndpointRow> =
        webhook_endpoints::table.find(id.to_string()).select(EndpointRow::as_select()).first(conn).optional()?;
    row.map(EndpointRow::into_endpoint).transpose()
}

pub fn list(conn: &mut DbConn, after: Option<&Cursor>, limit: i64) -> Result<Page<Endpoint>, DbError> {
    let mut query = webhook_endpoints::table.into_boxed();
    if let Some(after) = after {
        let at = to_db(after.at);
        query = query.filter(
            webhook_endpoints::created_at
                .ge(at)
                .and(webhook_endpoints::created_at.gt(at).or(webhook_endpoints::id.gt(after.id.clone()))),
        );
    }
    let rows: Vec<EndpointRow> = query
        .order((webhook_endpoints::created_at.asc(), webhook_endpoints::id.asc()))
        .limit(limit + 1)
        .select(EndpointRow::as_select())
        .load(conn)?;
    let endpoints = rows.into_iter().map(EndpointRow::into_endpoint).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(endpoints, limit, |e| Cursor { at: e.created_at, id: e.id.to_string() }))
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    /// Enabling clears the reason it was disabled and the failing streak; deliveries
    /// that waited resume.
    pub enabled: Option<bool>,
}

pub fn update(
    conn: &mut DbConn,
    id: WebhookId,
    change: Change,
    at: DateTime<Utc>,
) -> Result<Option<Endpoint>, DbError> {
    dialect::write_transaction(conn, |conn| {
        lock(conn, id)?;
        let Some(mut endpoint) = get(conn, id)? else { return Ok(None) };
        if let Some(url) = change.url {
            endpoint.url = url;
        }
        if let Some(description) = change.description {
            endpoint.description = description;
        }
        if let Some(events) = change.events {
            endpoint.events = events;
        }
        if let Some(enabled) = change.enabled {
            if enabled && !endpoint.enabled {
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
            }
            if !enabled && endpoint.enabled {
                endpoint.disabled_reason = Some("by_hand".into());
            }
            endpoint.enabled = enabled;
        }
        endpoint.updated_at = at;
        diesel::update(webhook_endpoints::table.find(id.to_string()))
            .set((
                webhook_endpoints::url.eq(&endpoint.url),
                webhook_endpoints::description.eq(&endpoint.description),
                webhook_endpoints::events.eq(serde_json::to_string(&endpoint.events)?),
                webhook_endpoints::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
        if change.enabled.is_some() {
            // The delivery worker changes `failing_since` (and may disable) without this
            // lock: only an enabling or disabling admin writes these.
            diesel::update(webhook_endpoints::table.find(id.to_string()))
                .set((
                    webhook_endpoints::enabled.eq(endpoint.enabled),
                    webhook_endpoints::disabled_reason.eq(&endpoint.disabled_reason),
                    webhook_endpoints::failing_since.eq(endpoint.failing_since.map(to_db)),
                ))
                .execute(conn)?;
        }
        let endpoint = get(conn, id)?.ok_or(DbError::NotFound)?;
        events::append(conn, vec![event(EventKind::WebhookUpdated, &endpoint, at)?])?;
        Ok(Some(endpoint))
    })
}

/// Deletes an endpoint with its secrets and its delivery log.
pub fn delete(conn: &mut DbConn, id: WebhookId, at: DateTime<Utc>) -> Result<bool, DbError> {
    dialect::write_transaction(conn, |conn| {
        // Not while it is being dispatched to, nor changed.
        dialect::lock_key(conn, &format!("webhook.dispatch.{id}"))?;
        lock(conn, id)?;
        let Some(endpoint) = get(conn, id)? else { return Ok(false) };
        let deliveries = webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id.to_string()))
            .select(webhook_deliveries::id);
        diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)))
            .execute(conn)?;
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id.to_string())))
            .execute(conn)?;
        diesel::delete(webhook_secrets::table.filter(webhook_secrets::endpoint_id.eq(id.to_string()))).execute(conn)?;
        diesel::delete(webhook_endpoints::table.find(id.to_string())).execute(conn)?;
        events::append(conn, vec![event(EventKind::WebhookDeleted, &endpoint, at)?])?;
        Ok(true)
    })
}

/// Adds `secret` as the endpoint's signing secret; the ones it had keep signing beside
/// it until `old_until`. `false` when there is no such endpoint.
pub fn rotate(
    conn: &mut DbConn,
    id: WebhookId,
    secret: &str,
    old_until: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    dialect::write_transaction(conn, |conn| {
        lock(conn, id)?;
        let Some(endpoint) = get(conn, id)? else { return Ok(false) };
        diesel::update(
            webhook_secrets::table
                .filter(webhook_secrets::endpoint_id.eq(id.to_string()))
                .filter(webhook_secrets::expires_at.is_null().or(webhook_secrets::expires_at.gt(to_db(old_until)))),
        )
        .set(webhook_secrets::expires_at.eq(to_db(old_until)))
        .execute(conn)?;
        diesel::delete(
            webhook_secrets::table
                .filter(webhook_secrets::endpoint_id.eq(id.to_string()))
                .filter(webhook_secrets::expires_at.le(to_db(at))),
        )
        .execute(conn)?;
        add_secret(conn, id, secret, at)?;
        events::append(conn, vec![event(EventKind::WebhookUpdated, &endpoint, at)?])?;
        Ok(true)
    })
}

/// The secrets that sign now, newest first.
pub fn signing_secrets(conn: &mut DbConn, id: WebhookId, now: DateTime<Utc>) -> Result<Vec<String>, DbError> {
    Ok(webhook_secrets::table
        .filter(webhook_secrets::endpoint_id.eq(id.to_string()))
        .filter(webhook_secrets::expires_at.is_null().or(webhook_secrets::expires_at.gt(to_db(now))))
        .order((webhook_secrets::created_at.desc(), webhook_secrets::id.desc()))
        .select(webhook_secrets::secret)
        .load(conn)?)
}

/// The enabled endpoints, for the dispatcher.
pub fn enabled(conn: &mut DbConn) -> Result<Vec<WebhookId>, DbError> {
    let ids: Vec<String> = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .order(webhook_endpoints::id.asc())
        .select(webhook_endpoints::id)
        .load(conn)?;
    ids.into_iter().map(|id| id.parse().map_err(DbError::from)).collect()
}

/// What a webhook's body says about an event; built by the caller (it is the API's JSON).
pub type Render<'a> = &'a dyn Fn(&events::Event) -> Result<String, DbError>;

/// Turns the endpoint's next events (up to about `batch`) into deliveries due now and
/// moves its position past them. Returns how many were queued and whether more wait.
pub fn dispatch(conn: &mut DbConn, id: WebhookId, batch: i64, render: Render<'_>) -> Result<(usize, bool), DbError> {
    dialect::write_transaction(conn, |conn| {
        // One dispatcher per endpoint at a time: the position read here is the one moved.
        dialect::lock_key(conn, &format!("webhook.dispatch.{id}"))?;
        let row: Option<(bool, String, i64, i64)> = webhook_endpoints::table
            .find(id.to_string())
            .select((
                webhook_endpoints::enabled,
                webhook_endpoints::events,
                webhook_endpoints::cursor_tx,
                webhook_endpoints::cursor_seq,
            ))
            .first(conn)
            .optional()?;
        let Some((true, selectors, tx, seq)) = row else { return Ok((0, false)) };
        let selectors: Vec<String> = serde_json::from_str(&selectors)?;
        let page = match events::feed(conn, Some(Position { tx, seq }), batch, &kinds(&selectors))? {
            Feed::Page(page) => page,
            // The log was pruned past this endpoint (disabled longer than the retention):
            // it goes on from what the log still keeps.
            Feed::Expired { restart } => {
                tracing_skip(id, restart);
                events::FeedPage { events: vec![], next: restart, has_more: false }
            }
        };
        let now = crate::now();
        let rows = page
            .events
            .iter()
            .map(|event| {
                Ok((
                    webhook_deliveries::id.eq(format!("msg_{}", uuid::Uuid::now_v7().simple())),
                    webhook_deliveries::endpoint_id.eq(id.to_string()),
                    webhook_deliveries::event_tx.eq(event.position.tx),
                    webhook_deliveries::event_seq.eq(event.position.seq),
                    webhook_deliveries::kind.eq(event.kind.as_str()),
                    webhook_deliveries::body.eq(render(event)?),
                    webhook_deliveries::state.eq("pending"),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(to_db(now)),
                    webhook_deliveries::created_at.eq(to_db(now)),
                    webhook_deliveries::updated_at.eq(to_db(now)),
                ))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let queued = rows.len();
        if !rows.is_empty() {
            dialect::insert_many(conn, webhook_deliveries::table, rows)?;
        }
        if page.next != (Position { tx, seq }) {
            diesel::update(webhook_endpoints::table.find(id.to_string()))
                .set((webhook_endpoints::cursor_tx.eq(page.next.tx), webhook_endpoints::cursor_seq.eq(page.next.seq)))
                .execute(conn)?;
        }
        Ok((queued, page.has_more))
    })
}

fn tracing_skip(id: WebhookId, pruned_through: Position) {
    tracing::warn!(webhook = %id, %pruned_through, "the event log was pruned past this webhook's position; it goes on from what is kept");
}

/// A delivery leased for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The `webhook-id`, the same on every attempt.
    pub id: String,
    pub endpoint: WebhookId,
    pub url: String,
    pub body: String,
    /// This attempt's number, from 1.
    pub attempt: i32,
}

/// Leases due deliveries for `lease`, at most `room(endpoint)` of each enabled endpoint
/// and `limit` in all, shared fairly among the endpoints with something due (starting
/// from a different one each time, by `turn`): of several workers on several nodes
/// exactly one takes each.
pub fn claim(
    conn: &mut DbConn,
    lease: chrono::Duration,
    room: &dyn Fn(WebhookId) -> usize,
    limit: usize,
    turn: usize,
) -> Result<Vec<Claimed>, DbError> {
    let now = crate::now();
    // The enabled endpoints with something due: one index probe each.
    let due: Vec<String> = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(diesel::dsl::exists(
            webhook_deliveries::table
                .filter(webhook_deliveries::endpoint_id.eq(webhook_endpoints::id))
                .filter(webhook_deliveries::state.eq("pending"))
                .filter(webhook_deliveries::next_attempt_at.le(to_db(now)))
                .filter(webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(to_db(now)))),
        ))
        .order(webhook_endpoints::id.asc())
        .select(webhook_endpoints::id)
        .load(conn)?;
    let mut due = due;
    if !due.is_empty() {
        let start = turn % due.len();
        due.rotate_left(start);
    }
    let share = limit.div_ceil(due.len().max(1));
    let mut claimed = Vec::new();
    for endpoint in due {
        let take = room(endpoint.parse()?).min(share).min(limit - claimed.len());
        if take == 0 {
            continue;
        }
        let ids = dialect::write_transaction(conn, |conn| {
            dialect::claim_webhook_deliveries(conn, &endpoint, to_db(now), to_db(now + lease), take as i64)
        })?;
        let rows: Vec<(String, String, i32, String)> = webhook_deliveries::table
            .inner_join(webhook_endpoints::table)
            .filter(dialect::planned_each_time())
            .filter(webhook_deliveries::id.eq_any(&ids))
            .select((
                webhook_deliveries::id,
                webhook_deliveries::body,
                webhook_deliveries::attempts,
                webhook_endpoints::url,
            ))
            .load(conn)?;
        for (id, body, attempt, url) in rows {
            claimed.push(Claimed { id, endpoint: endpoint.parse()?, url, body, attempt });
        }
        if claimed.len() >= limit {
            break;
        }
    }
    Ok(claimed)
}

/// One attempt as it went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The answer's status; `None` when there was none (refused, timed out).
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// The start of the answer's body.
    pub response: Option<String>,
}

/// What the attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    Failed,
    /// The endpoint answered 410: the delivery fails and the endpoint is disabled.
    Gone,
}

/// An attempt and what it leads to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub claimed: Claimed,
    pub attempt: Attempt,
    pub next: Next,
}

/// Records attempts and their outcomes in one transaction. An outcome whose delivery is
/// gone (its endpoint deleted) or was queued again meanwhile (a redelivery started a new
/// round) is left out: it no longer decides anything. After a success an endpoint's failing
/// streak ends, after a failure it starts (if it had not); an endpoint that answered 410,
/// or that has failed without a single success since `failing_limit`, is disabled.
pub fn record(conn: &mut DbConn, outcomes: &[Outcome], failing_limit: DateTime<Utc>) -> Result<(), DbError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    dialect::write_transaction(conn, |conn| {
        let ids: Vec<&str> = outcomes.iter().map(|o| o.claimed.id.as_str()).collect();
        let rounds: std::collections::HashMap<String, i32> = webhook_deliveries::table
            .filter(dialect::planned_each_time())
            .filter(webhook_deliveries::id.eq_any(&ids))
            .select((webhook_deliveries::id, webhook_deliveries::attempts))
            .load::<(String, i32)>(conn)?
            .into_iter()
            .collect();
        let current: Vec<&Outcome> =
            outcomes.iter().filter(|o| rounds.get(&o.claimed.id) == Some(&o.claimed.attempt)).collect();
        if current.is_empty() {
            return Ok(());
        }
        let attempts = current
            .iter()
            .map(|o| {
                (
                    webhook_attempts::id.eq(uuid::Uuid::now_v7().to_string()),
                    webhook_attempts::delivery_id.eq(&o.claimed.id),
                    webhook_attempts::attempt.eq(o.claimed.attempt),
                    webhook_attempts::at.eq(to_db(o.attempt.at)),
                    webhook_attempts::status.eq(o.attempt.status.map(i32::from)),
                    webhook_attempts::latency_ms.eq(o.attempt.latency_ms),
                    webhook_attempts::error.eq(&o.attempt.error),
                    webhook_attempts::response.eq(&o.attempt.response),
                )
            })
            .collect::<Vec<_>>();
        dialect::insert_many(conn, webhook_attempts::table, attempts)?;
        for o in &current {
            let (state, next_at) = match o.next {
                Next::Delivered => ("delivered", to_db(o.attempt.at)),
                Next::RetryAt(at) => ("pending", to_db(at)),
                Next::Failed | Next::Gone => ("failed", to_db(o.attempt.at)),
            };
            diesel::update(
                webhook_deliveries::table
                    .find(&o.claimed.id)
                    .filter(webhook_deliveries::attempts.eq(o.claimed.attempt)),
            )
            .set((
                webhook_deliveries::state.eq(state),
                webhook_deliveries::next_attempt_at.eq(next_at),
                webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
                webhook_deliveries::last_status.eq(o.attempt.status.map(i32::from)),
                webhook_deliveries::updated_at.eq(to_db(o.attempt.at)),
            ))
            .execute(conn)?;
        }

        // Each endpoint once, in id order, with statements that change only what they
        // decide (an admin's change in between is never undone).
        let mut endpoints: Vec<WebhookId> = current.iter().map(|o| o.claimed.endpoint).collect();
        endpoints.sort();
        endpoints.dedup();
        for id in endpoints {
            let mine: Vec<&&Outcome> = current.iter().filter(|o| o.claimed.endpoint == id).collect();
            let row = || webhook_endpoints::table.find(id.to_string());
            match mine.iter().rev().find(|o| o.next == Next::Delivered) {
                // A success ends the streak, unless a failure came after it.
                Some(last) if !mine.iter().any(|o| o.next != Next::Delivered && o.attempt.at > last.attempt.at) => {
                    diesel::update(row().filter(webhook_endpoints::failing_since.is_not_null()))
                        .set(webhook_endpoints::failing_since.eq(None::<NaiveDateTime>))
                        .execute(conn)?;
                }
                _ => {
                    let first = mine.iter().filter(|o| o.next != Next::Delivered).map(|o| o.attempt.at).min();
                    if let Some(first) = first {
                        diesel::update(row().filter(webhook_endpoints::failing_since.is_null()))
                            .set(webhook_endpoints::failing_since.eq(to_db(first)))
                            .execute(conn)?;
                    }
                }
            }
            let now = crate::now();
            let gone = mine.iter().any(|o| o.next == Next::Gone);
            let disabled = if gone {
                diesel::update(row().filter(webhook_endpoints::enabled.eq(true)))
                    .set((
                        webhook_endpoints::enabled.eq(false),
                        webhook_endpoints::disabled_reason.eq("gone"),
                        webhook_endpoints::updated_at.eq(to_db(now)),
                    ))
                    .execute(conn)?
            } else {
                diesel::update(
                    row()
                        .filter(webhook_endpoints::enabled.eq(true))
                        .filter(webhook_endpoints::failing_since.le(to_db(failing_limit))),
                )
                .set((
                    webhook_endpoints::enabled.eq(false),
                    webhook_endpoints::disabled_reason.eq("failing"),
                    webhook_endpoints::updated_at.eq(to_db(now)),
                ))
                .execute(conn)?
            };
            if disabled == 1
                && let Some(endpoint) = get(conn, id)?
            {
                events::append(conn, vec![event(EventKind::WebhookDisabled, &endpoint, now)?])?;
            }
        }
        Ok(())
    })
}

/// A delivery with its attempts, for the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: String,
    pub kind: String,
    /// The event's position in the log.
    pub position: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: Vec<AttemptRecord>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
}

type DeliveryRow = (String, String, i64, i64, String, NaiveDateTime, NaiveDateTime, NaiveDateTime);
type AttemptRow = (String, i32, NaiveDateTime, Option<i32>, i64, Option<String>, Option<String>);

/// An endpoint's deliveries, newest first, optionally of one state.
pub fn deliveries(
    conn: &mut DbConn,
    id: WebhookId,
    state: Option<&str>,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Delivery>, DbError> {
    let mut query = webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id.to_string())).into_boxed();
    if let Some(state) = state {
        query = query.filter(webhook_deliveries::state.eq(state.to_owned()));
    }
    if let Some(after) = after {
        let at = to_db(after.at);
        query = query.filter(
            webhook_deliveries::created_at
                .le(at)
                .and(webhook_deliveries::created_at.lt(at).or(webhook_deliveries::id.lt(after.id.clone()))),
        );
    }
    let rows: Vec<DeliveryRow> = query
        .order((webhook_deliveries::created_at.desc(), webhook_deliveries::id.desc()))
        .limit(limit + 1)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::kind,
            webhook_deliveries::event_tx,
            webhook_deliveries::event_seq,
            webhook_deliveries::state,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::created_at,
            webhook_deliveries::updated_at,
        ))
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|row| row.0.as_str()).collect();
    let attempts: Vec<AttemptRow> = webhook_attempts::table
        .filter(dialect::planned_each_time())
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .order(webhook_attempts::id.asc())
        .select((
            webhook_attempts::delivery_id,
            webhook_attempts::attempt,
            webhook_attempts::at,
            webhook_attempts::status,
            webhook_attempts::latency_ms,
            webhook_attempts::error,
            webhook_attempts::response,
        ))
        .load(conn)?;
    let mut by_delivery: std::collections::HashMap<String, Vec<AttemptRecord>> = Default::default();
    for (delivery, attempt, at, status, latency_ms, error, response) in attempts {
        by_delivery.entry(delivery).or_default().push(AttemptRecord {
            attempt,
            at: from_db(at),
            status,
            latency_ms,
            error,
            response,
        });
    }
    let deliveries = rows
        .into_iter()
        .map(|(id, kind, tx, seq, state, next_attempt_at, created_at, updated_at)| Delivery {
            attempts: by_delivery.remove(&id).unwrap_or_default(),
            next_attempt_at: (state == "pending").then(|| from_db(next_attempt_at)),
            id,
            kind,
            position: Position { tx, seq }.to_string(),
            state,
            created_at: from_db(created_at),
            updated_at: from_db(updated_at),
        })
        .collect();
    Ok(Page::from_rows(deliveries, limit, |d| Cursor { at: d.created_at, id: d.id.clone() }))
}

/// What a redelivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    Queued,
    /// An attempt is under way; ask again when it is done.
    InFlight,
    NotFound,
}

/// Queues a delivery of the endpoint again, due now, with a fresh round of attempts (the
/// same `webhook-id`, so a receiver that already has it knows it).
pub fn redeliver(conn: &mut DbConn, id: WebhookId, delivery: &str, at: DateTime<Utc>) -> Result<Redelivery, DbError> {
    let of_endpoint = || {
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(delivery))
            .filter(webhook_deliveries::endpoint_id.eq(id.to_string()))
    };
    let changed = diesel::update(
        of_endpoint()
            .filter(webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(to_db(at)))),
    )
    .set(requeue(at))
    .execute(conn)?;
    if changed == 1 {
        return Ok(Redelivery::Queued);
    }
    let exists: i64 = of_endpoint().count().get_result(conn)?;
    Ok(if exists == 1 { Redelivery::InFlight } else { Redelivery::NotFound })
}

/// Queues again every failed delivery of the endpoint created since `since`; how many.
pub fn recover(conn: &mut DbConn, id: WebhookId, since: DateTime<Utc>, at: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id.to_string()))
            .filter(webhook_deliveries::state.eq("failed"))
            .filter(webhook_deliveries::created_at.ge(to_db(since))),
    )
    .set(requeue(at))
    .execute(conn)?)
}

#[allow(clippy::type_complexity)]
fn requeue(
    at: DateTime<Utc>,
) -> (
    diesel::dsl::Eq<webhook_deliveries::state, &'static str>,
    diesel::dsl::Eq<webhook_deliveries::attempts, i32>,
    diesel::dsl::Eq<webhook_deliveries::next_attempt_at, NaiveDateTime>,
    diesel::dsl::Eq<webhook_deliveries::locked_until, Option<NaiveDateTime>>,
    diesel::dsl::Eq<webhook_deliveries::updated_at, NaiveDateTime>,
) {
    (
        webhook_deliveries::state.eq("pending"),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(to_db(at)),
        webhook_deliveries::locked_until.eq(None),
        webhook_deliveries::updated_at.eq(to_db(at)),
    )
}

/// Deletes up to `batch` finished deliveries (delivered or failed) last touched before
/// `before`, with their attempts; how many went. Call again until none do.
pub fn purge(conn: &mut DbConn, before: DateTime<Utc>, batch: i64) -> Result<usize, DbError> {
    dialect::write_transaction(conn, |conn| {
        let ids: Vec<String> = webhook_deliveries::table
            .filter(webhook_deliveries::state.ne("pending"))
            .filter(webhook_deliveries::updated_at.lt(to_db(before)))
            .limit(batch)
            .select(webhook_deliveries::id)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(
            webhook_attempts::table
                .filter(dialect::planned_each_time())
                .filter(webhook_attempts::delivery_id.eq_any(&ids)),
        )
        .execute(conn)?;
        Ok(diesel::delete(
            webhook_deliveries::table.filter(dialect::planned_each_time()).filter(webhook_deliveries::id.eq_any(&ids)),
        )
        .execute(conn)?)
    })
}

/// How many deliveries wait, for `/metrics`.
pub fn pending(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(webhook_deliveries::table.filter(webhook_deliveries::state.eq("pending")).count().get_result(conn)?)
}
