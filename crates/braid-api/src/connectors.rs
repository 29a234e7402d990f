//! The connector channel: integrations that bring their own channel (an SMS or WhatsApp
//! bridge, a marketplace's messages, an import from another helpdesk). An admin registers
//! a connector and gets a key that acts only as it; the connector sends its messages,
//! upserts its customers and tickets by its own ids, receives agents' replies at its
//! callback URL (signed like webhooks) and reports how far each got.

use actix_web::{HttpResponse, get, patch, post, put, web};
use braid_core::connector::{self, ConnectorName};
use braid_core::{
    Channel, CustomerId, CustomerName, DeliveryState, IdentityKind, IdentityValue, MessageId, Priority, Scope, Subject,
    SuggestionId, TicketId, TicketStatus, webhook,
};
use braid_db::connectors::{self as store, Connector, RefKind};
use braid_db::placement;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::customers::CustomerView;
use crate::error::responses;
use crate::messages::{MessageView, ReplyAttachment};
use crate::tickets::TicketView;
use crate::{ApiError, AppState, ErrorCode, Principal, tokens};

/// The largest HTML body taken, in bytes (the text is the message; HTML is extra).
const MAX_HTML_BYTES: usize = 512 * 1024;
/// The largest message text taken, in characters.
const MAX_TEXT_CHARS: usize = 100_000;
/// Connectors listed at most (an installation has a handful).
const LIST_LIMIT: i64 = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    #[schema(value_type = String, format = Uuid)]
    pub id: braid_core::ConnectorId,
    /// Its name in routes (`/v1/connectors/{name}/…`) and identities (`external:<name>`).
    #[schema(example = "whatsapp")]
    pub name: String,
    /// Where agents' replies are POSTed; `null` keeps them queued.
    pub callback_url: Option<String>,
    /// Whether the emails and phones it gives are taken as verified (else claimed).
    pub trusted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Connector> for ConnectorView {
    fn from(c: Connector) -> Self {
        Self {
            id: c.id,
            name: c.name,
            callback_url: c.callback_url,
            trusted: c.trusted,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "whatsapp", "callback_url": "https://bridge.example.org/braid/replies"}))]
pub struct NewConnector {
    /// 1 to 64 of `a-z 0-9 - _`; it cannot change.
    pub name: String,
    pub callback_url: Option<String>,
    /// Take the emails and phones it gives as verified; `false` when left out.
    #[serde(default)]
    pub trusted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConnector {
    #[serde(flatten)]
    pub connector: ConnectorView,
    /// The connector's API key for `Authorization: Bearer`, shown only now. It acts only
    /// as this connector.
    pub key: String,
    /// The key's id, to revoke it with `DELETE /v1/api-keys/{id}`.
    pub key_id: String,
    /// Signs the callbacks (`whsec_…`, Standard Webhooks), shown only now.
    pub signing_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The new key, shown only now.
    pub key: String,
    pub key_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"callback_url": null}))]
pub struct ConnectorPatch {
    /// `null` removes the callback (replies then wait in the outbox).
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>)]
    pub callback_url: Option<Option<String>>,
    pub trusted: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ana Lima", "email": "ana@example.org", "phone": "+14155550132"}))]
pub struct CustomerProfileRequest {
    pub name: Option<String>,
    /// Claimed, unless the connector is trusted; one another customer holds stays theirs
    /// and agents get a merge suggestion.
    pub email: Option<String>,
    /// E.164 or a number that normalises to it; taken as `email` is.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageCustomer {
    /// The connector's id for the customer.
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "external_id": "wamid.HBgLMTQxNTU1NTAxMzI",
    "customer": {"external_id": "14155550132", "name": "Ana Lima"},
    "conversation_ref": "chat-14155550132",
    "text": "Hi, my order #881 has not arrived."
}))]
pub struct NewConnectorMessage {
    /// The connector's id for the message: sending it again answers the first placement.
    pub external_id: String,
    pub customer: MessageCustomer,
    /// The connector's conversation: its messages follow the ticket its earlier ones went to.
    pub conversation_ref: Option<String>,
    /// The connector's ticket (made with `PUT …/tickets/{external_id}`) it belongs to.
    pub ticket_external_id: Option<String>,
    pub text: String,
    /// Made safe before it is kept; at most 512 KiB.
    pub html: Option<String>,
    /// Files uploaded first with `POST /v1/attachments`: at most 20, and 18 MiB in all.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub attachments: Vec<ReplyAttachment>,
    /// When it was sent: an import keeps its history's times. Now when left out.
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorPlacement {
    pub message: MessageView,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub ticket_id: Option<TicketId>,
    /// This `external_id` came before: the first placement, nothing written.
    pub duplicate: bool,
    pub new_customer: bool,
    pub new_ticket: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpsertedCustomer {
    #[serde(flatten)]
    pub customer: CustomerView,
    /// Contacts another customer holds: not added, agents were asked whether to merge.
    #[schema(value_type = Vec<String>)]
    pub merge_suggestions: Vec<SuggestionId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_external_id": "14155550132", "subject": "Order #881 missing", "status": "open"}))]
pub struct TicketUpsertRequest {
    /// The connector's customer (upserted first); needed to make the ticket, ignored after.
    pub customer_external_id: Option<String>,
    pub subject: Option<String>,
    #[schema(value_type = Option<String>, example = "open")]
    pub status: Option<TicketStatus>,
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"state": "delivered"}))]
pub struct StatusReport {
    /// `sent`, `delivered`, `read` or `failed`; states only move forward.
    #[schema(value_type = String, example = "delivered")]
    pub state: DeliveryState,
    /// Why it failed (with `failed`); at most 1000 characters.
    pub error: Option<String>,
}

fn connector_not_found() -> ApiError {
    ApiError::not_found("connector with this name")
}

/// The connector `name`, if the caller may act as it.
async fn acting_as(state: &AppState, caller: &Principal, name: &str) -> Result<Connector, ApiError> {
    let name = name.to_owned();
    let connector = state.db.run(move |conn| store::by_name(conn, &name)).await.map_err(|e| match e {
        braid_db::DbError::NotFound => connector_not_found(),
        other => other.into(),
    })?;
    caller.require_connector(connector.id)?;
    Ok(connector)
}

async fn callback(state: &AppState, url: Option<String>) -> Result<Option<String>, ApiError> {
    match url {
        None => Ok(None),
        Some(url) => crate::webhooks::target(state, &url).await.map(Some),
    }
}

/// Register a connector: its key (acting only as it) and its callbacks' signing secret
/// are shown once.
#[utoipa::path(
    tag = "connectors",
    operation_id = "createConnector",
    request_body = NewConnector,
    responses(
        (status = 201, description = "Registered; `key` and `signing_secret` are shown only now.", body = CreatedConnector),
        (status = 409, description = "A connector, or a chat site's slug, has this name (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/connectors")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewConnector>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let name = ConnectorName::parse(&body.name)?;
    let callback_url = callback(&state, body.callback_url).await?;
    let (generated, signing_secret) = (tokens::new_api_key(), webhook::new_secret(rand::random()));
    let new = store::NewConnector {
        name,
        callback_url,
        trusted: body.trusted,
        secret: signing_secret.clone(),
        key: store::NewKey {
            prefix: generated.prefix.clone(),
            secret_hash: generated.secret_hash.clone(),
            created_by: caller.agent_id(),
        },
    };
    let (connector, key) = state.db.run(move |conn| store::create(conn, &new)).await.map_err(|e| match e {
        braid_db::DbError::Conflict(_) => ApiError::new(
            ErrorCode::Conflict,
            "a connector or a chat site's slug has this name (their customers' ids share it)",
        ),
        other => other.into(),
    })?;
    let mut response = HttpResponse::Created()
        .insert_header(("location", format!("/v1/connectors/{}", connector.name)))
        .json(CreatedConnector { connector: connector.into(), key: generated.token, key_id: key.id, signing_secret });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// List connectors, by name.
#[utoipa::path(
    tag = "connectors",
    operation_id = "listConnectors",
    responses((status = 200, description = "Every connector.", body = Vec<ConnectorView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/connectors")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let connectors = state.db.run(|conn| store::list(conn, LIST_LIMIT)).await?;
    Ok(HttpResponse::Ok().json(connectors.into_iter().map(ConnectorView::from).collect::<Vec<_>>()))
}

/// One connector (an admin, or the connector's own key).
#[utoipa::path(
    tag = "connectors",
    operation_id = "getConnector",
    params(("name" = String, Path, description = "The connector's name.")),
    responses((status = 200, description = "The connector.", body = ConnectorView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/connectors/{name}")]
async fn get(state: web::Data<AppState>, caller: Principal, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let connector = acting_as(&state, &caller, &name).await?;
    Ok(HttpResponse::Ok().json(ConnectorView::from(connector)))
}

/// Change a connector's callback URL or trust.
#[utoipa::path(
    tag = "connectors",
    operation_id = "updateConnector",
    params(("name" = String, Path, description = "The connector's name.")),
    request_body = ConnectorPatch,
    responses((status = 200, description = "Changed.", body = ConnectorView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/connectors/{name}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    name: web::Path<String>,
    body: web::Json<ConnectorPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let connector = acting_as(&state, &caller, &name).await?;
    let body = body.into_inner();
    let callback_url = match body.callback_url {
        Some(url) => Some(callback(&state, url).await?),
        None => None,
    };
    let changes = store::Changes { callback_url, trusted: body.trusted };
    let updated = state.db.run(move |conn| store::update(conn, connector.id, &changes)).await?;
    Ok(HttpResponse::Ok().json(ConnectorView::from(updated)))
}

/// Another key for the connector, shown once (rotation: move the integration to it, then
/// revoke the old one with `DELETE /v1/api-keys/{id}`).
#[utoipa::path(
    tag = "connectors",
    operation_id = "createConnectorKey",
    params(("name" = String, Path, description = "The connector's name.")),
    responses((status = 201, description = "Made; `key` is shown only now.", body = CreatedKey), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[post("/v1/connectors/{name}/keys")]
async fn add_key(
    state: web::Data<AppState>,
    caller: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let connector = acting_as(&state, &caller, &name).await?;
    let generated = tokens::new_api_key();
    let key = store::NewKey {
        prefix: generated.prefix.clone(),
        secret_hash: generated.secret_hash.clone(),
        created_by: caller.agent_id(),
    };
    let stored = state.db.run(move |conn| store::add_key(conn, connector.id, &key)).await?;
    let mut response = HttpResponse::Created().json(CreatedKey { key: generated.token, key_id: stored.id });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// Rotate the callbacks' signing secret. The new one signs from now on; the old one keeps
/// signing beside it (a second signature in `webhook-signature`) for `overlap_secs`, so the
/// connector can switch without refusing a callback.
#[utoipa::path(
    tag = "connectors",
    operation_id = "rotateConnectorSecret",
    params(("name" = String, Path, description = "The connector's name.")),
    request_body = crate::webhooks::Rotation,
    responses((status = 201, description = "The new secret, shown only now.", body = crate::webhooks::RotatedSecret), responses::Auth, responses::BadInput, responses::NotFound),
    security(("bearer" = [])),
)]
#[post("/v1/connectors/{name}/secrets")]
async fn rotate_secret(
    state: web::Data<AppState>,
    caller: Principal,
    name: web::Path<String>,
    body: web::Json<crate::webhooks::Rotation>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let connector = acting_as(&state, &caller, &name).await?;
    let until = braid_db::now() + crate::webhooks::overlap(body.overlap_secs)?;
    let secret = webhook::new_secret(rand::random());
    let signing = secret.clone();
    state.db.run(move |conn| store::rotate_secret(conn, connector.id, &signing, until)).await?;
    let mut response =
        HttpResponse::Created().json(crate::webhooks::RotatedSecret { secret, previous_expire_at: until });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

fn profile(name: Option<String>, email: Option<String>, phone: Option<String>) -> Result<store::Profile, ApiError> {
    let mut contacts = Vec::new();
    if let Some(email) = email {
        contacts.push(IdentityValue::parse(IdentityKind::Email, &email)?);
    }
    if let Some(phone) = phone {
        contacts.push(IdentityValue::parse(IdentityKind::Phone, &phone)?);
    }
    Ok(store::Profile { name: name.as_deref().map(CustomerName::parse).transpose()?.flatten(), contacts })
}

fn external_id(field: &'static str, text: &str) -> Result<String, ApiError> {
    Ok(connector::external_id(field, text)?)
}

/// Create or update the connector's customer by its own id. Contacts are added (claimed,
/// or verified for a trusted connector) and never removed.
#[utoipa::path(
    tag = "connectors",
    operation_id = "upsertConnectorCustomer",
    params(
        ("name" = String, Path, description = "The connector's name."),
        ("external_id" = String, Path, description = "The connector's id for the customer."),
    ),
    request_body = CustomerProfileRequest,
    responses(
        (status = 201, description = "Created.", body = UpsertedCustomer),
        (status = 200, description = "Updated.", body = UpsertedCustomer),
        responses::Auth, responses::NotFound, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[put("/v1/connectors/{name}/customers/{external_id}")]
async fn upsert_customer(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<CustomerProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let (name, external) = path.into_inner();
    let connector = acting_as(&state, &caller, &name).await?;
    let external = external_id("external_id", &external)?;
    let body = body.into_inner();
    let profile = profile(body.name, body.email, body.phone)?;
    let upserted = state.db.run(move |conn| store::upsert_customer(conn, &connector, &external, &profile)).await?;
    let view = UpsertedCustomer { customer: upserted.profile.into(), merge_suggestions: upserted.suggestions };
    Ok(if upserted.created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// Create or update the connector's ticket by its own id. Making one needs its customer
/// (`customer_external_id`, upserted first); after that the ticket's customer is fixed and
/// `subject`, `status` and `priority` change it. A status the ticket cannot move to is
/// `422 invalid_status_transition` (and makes no ticket).
#[utoipa::path(
    tag = "connectors",
    operation_id = "upsertConnectorTicket",
    params(
        ("name" = String, Path, description = "The connector's name."),
        ("external_id" = String, Path, description = "The connector's id for the ticket."),
    ),
    request_body = TicketUpsertRequest,
    responses(
        (status = 201, description = "Created.", body = TicketView, headers(("etag" = String))),
        (status = 200, description = "Updated.", body = TicketView, headers(("etag" = String))),
        responses::Auth, responses::NotFound, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[put("/v1/connectors/{name}/tickets/{external_id}")]
async fn upsert_ticket(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<TicketUpsertRequest>,
) -> Result<HttpResponse, ApiError> {
    let (name, external) = path.into_inner();
    let connector = acting_as(&state, &caller, &name).await?;
    let external = external_id("external_id", &external)?;
    let body = body.into_inner();
    let subject = body.subject.as_deref().map(Subject::parse).transpose()?;
    let customer_external = body.customer_external_id.as_deref().map(|id| external_id("customer_external_id", id));
    let customer_external = customer_external.transpose()?;
    let (status, priority) = (body.status, body.priority);
    let outcome = state
        .db
        .run(move |conn| {
            let customer = match &customer_external {
                Some(id) => store::customer_of(conn, &connector, id)?,
                None => None,
            };
            let known = store::ticket_of(conn, connector.id, RefKind::Ticket, &external)?;
            let customer = match (known, customer) {
                (Some(_), _) => CustomerId::new(),
                (None, Some(customer)) => customer,
                (None, None) => return Ok(Err("customer_external_id")),
            };
            let upsert = store::TicketUpsert { customer, subject, status, priority };
            Ok(Ok(store::upsert_ticket(conn, connector.id, &external, &upsert)))
        })
        .await?;
    let result = outcome.map_err(|field| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            "a new ticket needs customer_external_id naming a customer of this connector (PUT it first)",
        )
        .with_extra(serde_json::json!({ "field": field }))
    })?;
    let (ticket, created) = result.map_err(crate::tickets::update_error)?;
    let response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(crate::tickets::with_etag(response, ticket))
}

/// Send a message from the connector's customer. It is placed like any inbound message:
/// into the ticket of its `ticket_external_id`, else of its `conversation_ref`'s earlier
/// messages, else by the usual rules. The customer is upserted by `customer.external_id`.
/// Sending the same `external_id` again answers the first placement with `200`.
#[utoipa::path(
    tag = "connectors",
    operation_id = "createConnectorMessage",
    params(("name" = String, Path, description = "The connector's name.")),
    request_body = NewConnectorMessage,
    responses(
        (status = 201, description = "Placed.", body = ConnectorPlacement),
        (status = 200, description = "This `external_id` came before: the first placement.", body = ConnectorPlacement),
        responses::Auth, responses::NotFound, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/connectors/{name}/messages")]
async fn create_message(
    state: web::Data<AppState>,
    caller: Principal,
    name: web::Path<String>,
    body: web::Json<NewConnectorMessage>,
) -> Result<HttpResponse, ApiError> {
    let connector = acting_as(&state, &caller, &name).await?;
    let body = body.into_inner();
    let message_id = external_id("external_id", &body.external_id)?;
    let customer_id = external_id("customer.external_id", &body.customer.external_id)?;
    let sender = connector.identity(&customer_id).map_err(ApiError::from)?;
    let conversation = body.conversation_ref.as_deref().map(|r| external_id("conversation_ref", r)).transpose()?;
    let ticket_ref = body.ticket_external_id.as_deref().map(|r| external_id("ticket_external_id", r)).transpose()?;
    let text = braid_core::text::multiline("text", &body.text, MAX_TEXT_CHARS)?;
    let html = match body.html {
        Some(html) if html.len() > MAX_HTML_BYTES => {
            return Err(braid_core::InvalidValue::new("html", format!("at most {MAX_HTML_BYTES} bytes")).into());
        }
        // Too complex to make safe: the text is the message.
        Some(html) => state.cpu.run(move || braid_channels::email::html::sanitise(&html).ok()).await?,
        None => None,
    };
    let attachments = crate::attachments::checked(&state, body.attachments)?;
    let sent_at = connector::recorded_at(body.sent_at, braid_db::now())?;
    let customer = body.customer;
    let has_profile = customer.name.is_some() || customer.email.is_some() || customer.phone.is_some();
    let sender_name = customer.name.as_deref().map(CustomerName::parse).transpose()?.flatten();
    let profile = profile(customer.name, customer.email, customer.phone)?;
    let policy = state.placement;
    let placed = state
        .db
        .run(move |conn| {
            // Refused before anything is written.
            let ticket = match ticket_ref {
                Some(external) => match store::ticket_of(conn, connector.id, RefKind::Ticket, &external)? {
                    Some(ticket) => Some((external, ticket)),
                    None => return Ok(Err(())),
                },
                None => None,
            };
            // A replay answers the first placement and changes nothing, the customer included.
            let (channel_ref, digest) = braid_channels::connector::reference(&connector.name, &message_id);
            let replay = has_profile
                && !braid_db::messages::earlier_under(conn, Channel::Api, &channel_ref, &digest)?.is_empty();
            // A new customer with only a name is made by placement, in its transaction.
            let upsert = !replay
                && has_profile
                && (!profile.contacts.is_empty() || store::customer_of(conn, &connector, &customer_id)?.is_some());
            let created = upsert && store::upsert_customer(conn, &connector, &customer_id, &profile)?.created;
            let conversation = match conversation {
                Some(external) => {
                    let ticket = store::ticket_of(conn, connector.id, RefKind::Conversation, &external)?;
                    Some((external, ticket))
                }
                None => None,
            };
            let message = braid_channels::connector::Message {
                connector: connector.id,
                connector_name: connector.name.clone(),
                external_id: message_id,
                sender,
                sender_name,
                conversation,
                ticket,
                text,
                html,
                attachments,
                sent_at,
            };
            let placed = placement::place(conn, &braid_channels::connector::inbound(message), &policy)?;
            Ok(Ok((placed, created)))
        })
        .await?
        .map_err(|()| {
            ApiError::new(ErrorCode::ValidationFailed, "ticket_external_id names no ticket of this connector")
                .with_extra(serde_json::json!({ "field": "ticket_external_id" }))
        })?;
    let (placed, created) = placed;
    let view = ConnectorPlacement {
        customer_id: placed.customer_id,
        ticket_id: placed.ticket.map(|t| t.id),
        duplicate: placed.duplicate,
        new_customer: placed.new_customer || (created && !placed.duplicate),
        new_ticket: placed.new_ticket,
        message: placed.message.into(),
    };
    Ok(if view.duplicate { HttpResponse::Ok().json(view) } else { HttpResponse::Created().json(view) })
}

/// Report how far an agent's reply got: `sent` → `delivered` → `read`, or `failed` (until
/// delivered). States only move forward; the same report twice is answered as the first.
/// Any report but `failed` also ends the callback's retries.
#[utoipa::path(
    tag = "connectors",
    operation_id = "reportConnectorMessageStatus",
    params(
        ("name" = String, Path, description = "The connector's name."),
        ("id" = String, Path, format = Uuid, description = "The reply's id, as the callback gave it."),
    ),
    request_body = StatusReport,
    responses(
        (status = 200, description = "Recorded; the message as it now is.", body = MessageView),
        (status = 409, description = "The message is already further along (`conflict`; `extra.state` says where).", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth, responses::NotFound, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[put("/v1/connectors/{name}/messages/{id}/status")]
async fn report_status(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(String, MessageId)>,
    body: web::Json<StatusReport>,
) -> Result<HttpResponse, ApiError> {
    let (name, id) = path.into_inner();
    let connector = acting_as(&state, &caller, &name).await?;
    let StatusReport { state: reported, error } = body.into_inner();
    if reported == DeliveryState::Queued {
        return Err(braid_core::InvalidValue::new("state", "one of: sent, delivered, read, failed").into());
    }
    let error = match error {
        Some(error) => Some(braid_core::text::multiline("error", &error, 1000)?),
        None => None,
    };
    let result = state.db.run(move |conn| Ok(store::report(conn, &connector, id, reported, error.as_deref()))).await?;
    let message = result.map_err(|e| match e {
        store::ReportError::Behind(now) => {
            ApiError::new(ErrorCode::Conflict, format!("the message is already {now}; states only move forward"))
                .with_extra(serde_json::json!({ "state": now }))
        }
        store::ReportError::Db(braid_db::DbError::NotFound) => {
            ApiError::not_found("reply sent through this connector with this id")
        }
        store::ReportError::Db(other) => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(MessageView::from(message)))
}

/// Download an attachment of one of the connector's replies (its id from the callback's
/// `message.details.attachments`).
#[utoipa::path(
    tag = "connectors",
    operation_id = "downloadConnectorReplyAttachment",
    params(
        ("name" = String, Path, description = "The connector's name."),
        ("id" = String, Path, format = Uuid, description = "The reply's id, as the callback gave it."),
        ("attachment" = String, Path, description = "The attachment's id (its SHA-256)."),
    ),
    responses(
        (status = 200, description = "The bytes, as `application/octet-stream` with `Content-Disposition: attachment`.", content_type = "application/octet-stream", body = Vec<u8>),
        responses::Auth,
        (status = 404, description = "No reply sent through this connector with this id, or it has no such attachment (`not_found`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/connectors/{name}/messages/{id}/attachments/{attachment}")]
async fn reply_attachment(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(String, MessageId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, id, attachment) = path.into_inner();
    let connector = acting_as(&state, &caller, &name).await?;
    let wanted = attachment.clone();
    let listed = state
        .db
        .run(move |conn| {
            let message = braid_db::messages::get(conn, id)?;
            let listed = store::is_own_reply(&connector, &message)
                && message.details["attachments"]
                    .as_array()
                    .is_some_and(|files| files.iter().any(|file| file["id"].as_str() == Some(wanted.as_str())));
            Ok(listed)
        })
        .await
        .or_else(|error| match error {
            braid_db::DbError::NotFound => Ok(false),
            other => Err(ApiError::from(other)),
        })?;
    if !listed {
        return Err(ApiError::not_found("attachment of a reply sent through this connector"));
    }
    crate::attachments::serve(&state, attachment).await
}

/// The body of a reply's callback: `{"type": "message.reply", "timestamp", "data"}` with
/// the reply as the API shows it and what the connector needs to route it.
pub fn callback_body(
    connector: &Connector,
    message: braid_db::messages::Message,
    ticket: Option<&braid_db::tickets::Ticket>,
    route: &store::Route,
    customer_external_id: Option<&str>,
) -> String {
    let data = serde_json::json!({
        "connector": connector.name,
        "message": MessageView::from(message),
        "ticket": ticket.map(|t| serde_json::json!({
            "id": t.id, "number": t.number, "external_id": route.ticket_external_id,
        })),
        "customer": {
            "id": ticket.map(|t| t.customer_id),
            "external_id": customer_external_id,
        },
        "conversation_ref": route.conversation_ref,
    });
    serde_json::json!({ "type": "message.reply", "timestamp": braid_db::now(), "data": data }).to_string()
}
