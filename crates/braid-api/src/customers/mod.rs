//! Customers and their identities, and `GET /v1/customers/{id}/thread`: the customer's
//! whole history across every channel and ticket. Merges and merge suggestions, custom
//! attributes, notes, preferences and the one-call context are in the modules below.

pub(crate) mod attributes;
pub mod context;
pub mod merges;
pub(crate) mod notes;
pub mod preferences;
pub mod suggestions;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use braid_core::{CustomerId, CustomerName, IdentityId, IdentityKind, IdentityValue, Scope, Trust, TrustSource};
use braid_db::customers::{self, CustomerFilter, CustomerProfile, Identity, NewIdentity};
use braid_db::messages;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::responses;
use crate::messages::MessageView;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    #[schema(value_type = String, format = Uuid)]
    pub id: IdentityId,
    /// `email`, `phone`, `chat_visitor` or `external:<connector>`.
    #[schema(value_type = String, example = "email")]
    pub kind: IdentityKind,
    /// Normalised: emails lower-cased, phones in E.164.
    #[schema(example = "ana@example.org")]
    pub value: String,
    /// `verified` or `claimed`.
    #[schema(value_type = String, example = "claimed")]
    pub trust: Trust,
    /// How the trust was earned, or where a claim came from: `email_round_trip`,
    /// `signed_token`, `agent`, `connector`, `form`, `imported` or `sender` (the address a
    /// message came from).
    #[schema(value_type = String, example = "sender")]
    pub trust_source: TrustSource,
    /// When the trust last changed; `null` while it is as the identity was created.
    pub trust_changed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Identity> for IdentityView {
    fn from(i: Identity) -> Self {
        Self {
            id: i.id,
            kind: i.kind,
            value: i.value,
            trust: i.trust,
            trust_source: i.trust_source,
            trust_changed_at: i.trust_changed_at,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    #[schema(value_type = String, format = Uuid)]
    pub id: CustomerId,
    pub name: Option<String>,
    pub identities: Vec<IdentityView>,
    /// Set when this customer was merged into another: the live customer to use instead
    /// (this one keeps no identities and is never listed).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub merged_into: Option<CustomerId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CustomerProfile> for CustomerView {
    fn from(p: CustomerProfile) -> Self {
        Self {
            id: p.customer.id,
            name: p.customer.name,
            identities: p.identities.into_iter().map(IdentityView::from).collect(),
            merged_into: p.customer.merged_into,
            created_at: p.customer.created_at,
            updated_at: p.customer.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "email", "value": "Ana@Example.org"}))]
pub struct IdentityRequest {
    /// `email`, `phone`, `chat_visitor` or `external:<connector>`.
    #[schema(value_type = String)]
    pub kind: IdentityKind,
    pub value: String,
    /// `claimed` (default) or `verified` (the caller vouches for it). The identity's
    /// `trust_source` names the caller: `agent` for an agent, `connector` for an API key.
    #[schema(value_type = Option<String>)]
    pub trust: Option<Trust>,
}

impl IdentityRequest {
    fn parse(self, caller: &Principal) -> Result<NewIdentity, ApiError> {
        Ok(NewIdentity {
            value: IdentityValue::parse(self.kind, &self.value)?,
            trust: self.trust.unwrap_or(Trust::Claimed),
            source: trust_source_of(caller),
        })
    }
}

/// What vouches for an identity a caller gives: an agent, or a connector's API key.
pub(crate) fn trust_source_of(caller: &Principal) -> TrustSource {
    match caller {
        Principal::Agent { .. } => TrustSource::Agent,
        Principal::ApiKey { .. } => TrustSource::Connector,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ana Lima", "identities": [{"kind": "email", "value": "ana@example.org"}, {"kind": "phone", "value": "+14155550132"}]}))]
pub struct NewCustomer {
    pub name: Option<String>,
    /// At most 50.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub identities: Vec<IdentityRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ana Lima"}))]
pub struct CustomerPatch {
    /// `null` clears the name.
    pub name: Option<String>,
}

fn checked_name(name: Option<String>) -> Result<Option<CustomerName>, ApiError> {
    Ok(name.as_deref().map(CustomerName::parse).transpose()?.flatten())
}

pub(crate) fn customer_not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("customer with this id"),
        other => other.into(),
    }
}

/// Create a customer with their identities (and their empty thread).
#[utoipa::path(
    tag = "customers",
    operation_id = "createCustomer",
    request_body = NewCustomer,
    responses(
        (status = 201, description = "Created.", body = CustomerView),
        responses::Auth, responses::BadInput,
        (status = 409, description = "An identity belongs to another customer (`conflict`); `extra.customer_id` names them.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/customers")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewCustomer>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let NewCustomer { name, identities } = body.into_inner();
    let name = checked_name(name)?;
    if identities.len() > IdentityValue::MAX_PER_CUSTOMER {
        return Err(ApiError::over_limit("identities", IdentityValue::MAX_PER_CUSTOMER));
    }
    let identities = identities.into_iter().map(|i| i.parse(&caller)).collect::<Result<Vec<_>, _>>()?;
    let distinct: std::collections::HashSet<_> = identities.iter().map(|i| &i.value).collect();
    if distinct.len() < identities.len() {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "the same identity is listed twice")
            .with_extra(serde_json::json!({ "field": "identities" })));
    }
    let profile = state.db.run(move |conn| customers::create(conn, name.as_ref(), &identities)).await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/customers/{}", profile.customer.id)))
        .json(CustomerView::from(profile)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// An identity's value: an email (any case), a phone (any format with a country code)
    /// or an id.
    pub identity: Option<String>,
    /// The start of the name, case-insensitive.
    pub name_prefix: Option<String>,
}

/// List customers, newest first.
#[utoipa::path(
    tag = "customers",
    operation_id = "listCustomers",
    params(CustomerQuery, PageParams),
    responses((status = 200, description = "A page of customers.", body = Paged<CustomerView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/customers")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<CustomerQuery>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let query = query.into_inner();
    for (field, value) in [("identity", &query.identity), ("name_prefix", &query.name_prefix)] {
        if value.as_deref().is_some_and(|v| v.chars().any(char::is_control)) {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("{field} cannot contain control characters"),
            )
            .with_extra(serde_json::json!({ "field": field })));
        }
    }
    let filter =
        CustomerFilter { identity: query.identity.as_deref().map(normalise_lookup), name_prefix: query.name_prefix };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let page = state.db.run(move |conn| customers::list(conn, &filter, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, CustomerView::from)))
}

/// An identity value as stored, whatever kind it turns out to be.
fn normalise_lookup(value: &str) -> String {
    if let Ok(email) = braid_core::EmailAddress::parse(value) {
        return email.to_string();
    }
    if let Ok(phone) = braid_core::PhoneNumber::parse(value) {
        return phone.to_string();
    }
    value.trim().to_owned()
}

/// Get a customer with their identities.
///
/// A customer merged into another answers with `merged_into` naming the live customer;
/// every other route on it answers `409 customer_merged`.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomer",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The customer with their identities.", body = CustomerView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let id = id.into_inner();
    let profile = state.db.run(move |conn| customers::profile(conn, id)).await.map_err(customer_not_found)?;
    Ok(HttpResponse::Ok().json(CustomerView::from(profile)))
}

/// Rename a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "updateCustomer",
    params(("id" = String, Path, format = Uuid)),
    request_body = CustomerPatch,
    responses((status = 200, description = "The customer as changed.", body = CustomerView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/customers/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    body: web::Json<CustomerPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let name = checked_name(body.into_inner().name)?;
    let id = id.into_inner();
    let profile =
        state.db.run(move |conn| customers::rename(conn, id, name.as_ref())).await.map_err(customer_not_found)?;
    Ok(HttpResponse::Ok().json(CustomerView::from(profile)))
}

/// Add an identity to a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "addCustomerIdentity",
    params(("id" = String, Path, format = Uuid)),
    request_body = IdentityRequest,
    responses(
        (status = 201, description = "Added.", body = IdentityView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The identity belongs to another customer (`conflict`); `extra.customer_id` names them.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/customers/{id}/identities")]
async fn add_identity(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    body: web::Json<IdentityRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let new = body.into_inner().parse(&caller)?;
    let id = id.into_inner();
    let identity =
        state.db.run(move |conn| customers::add_identity(conn, id, &new)).await.map_err(customer_not_found)?;
    Ok(HttpResponse::Created().json(IdentityView::from(identity)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"trust": "verified"}))]
pub struct IdentityPatch {
    /// `verified` (the caller vouches for it) or `claimed`.
    #[schema(value_type = String)]
    pub trust: Trust,
}

/// Mark an identity verified (or back to claimed).
///
/// The identity's `trust_source` becomes `agent` (or `connector` for an API key) and the
/// change is an `identity.updated` event.
#[utoipa::path(
    tag = "customers",
    operation_id = "updateCustomerIdentity",
    params(("id" = String, Path, format = Uuid), ("identity_id" = String, Path, format = Uuid)),
    request_body = IdentityPatch,
    responses((status = 200, description = "The identity as changed.", body = IdentityView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/customers/{id}/identities/{identity_id}")]
async fn update_identity(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(CustomerId, IdentityId)>,
    body: web::Json<IdentityPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let (id, identity) = path.into_inner();
    let (trust, source) = (body.into_inner().trust, trust_source_of(&caller));
    let identity = state.db.run(move |conn| customers::change_trust(conn, id, identity, trust, source)).await.map_err(
        |e| match e {
            braid_db::DbError::NotFound => ApiError::not_found("identity with this id on this customer"),
            other => other.into(),
        },
    )?;
    Ok(HttpResponse::Ok().json(IdentityView::from(identity)))
}

/// Remove an identity from a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "removeCustomerIdentity",
    params(("id" = String, Path, format = Uuid), ("identity_id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Removed."), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/customers/{id}/identities/{identity_id}")]
async fn remove_identity(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(CustomerId, IdentityId)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let (id, identity) = path.into_inner();
    state.db.run(move |conn| customers::remove_identity(conn, id, identity)).await.map_err(|e| match e {
        braid_db::DbError::NotFound => ApiError::not_found("identity with this id on this customer"),
        other => other.into(),
    })?;
    Ok(HttpResponse::NoContent().finish())
}

/// The customer's whole history: every message on every channel and ticket, oldest first.
///
/// Needs `customers:read` and `tickets:read`. Each message names its channel, direction,
/// ticket and author.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomerThread",
    params(("id" = String, Path, format = Uuid), PageParams),
    responses((status = 200, description = "A page of the customer's messages on every channel and ticket, oldest first.", body = Paged<MessageView>), responses::Auth, responses::NotFound, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}/thread")]
async fn thread(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    caller.require(Scope::TicketsRead)?;
    let (id, limit, cursor) = (id.into_inner(), page.limit()?, page.cursor()?);
    let page = state
        .db
        .run(move |conn| {
            customers::live(conn, id)?;
            let thread = customers::thread_of(conn, id)?;
            messages::list(conn, messages::Scope::Thread(thread), cursor.as_ref(), limit)
        })
        .await
        .map_err(customer_not_found)?;
    Ok(HttpResponse::Ok().json(crate::messages::listed_page(page, true)))
}
