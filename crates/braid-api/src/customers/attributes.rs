//! Custom attributes over HTTP: admins define them (`/v1/attribute-definitions`), agents
//! and integrations set a customer's values (`/v1/customers/{id}/attributes`).

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use braid_core::attribute::{self, MAX_DEFINITIONS};
use braid_core::{AttributeKey, AttributeKind, AttributeLabel, CustomerId, ListOptions, Scope};
use braid_db::DbError;
use braid_db::customers::attributes::{self, AttributeDefinition, AttributeValue, DefinitionChanges, NewDefinition};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeDefinitionView {
    #[schema(value_type = String, example = "plan")]
    pub key: AttributeKey,
    #[schema(value_type = String, example = "Plan")]
    pub label: AttributeLabel,
    /// `text`, `number`, `boolean`, `date` or `list`.
    #[schema(value_type = String, example = "list")]
    pub kind: AttributeKind,
    /// A `list`'s allowed values, in order; `null` for every other kind.
    #[schema(value_type = Option<Vec<String>>, example = json!(["free", "pro", "enterprise"]))]
    pub options: Option<ListOptions>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AttributeDefinition> for AttributeDefinitionView {
    fn from(d: AttributeDefinition) -> Self {
        Self {
            key: d.key,
            label: d.label,
            kind: d.kind,
            options: d.options,
            description: d.description,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// Every attribute definition, by key.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeDefinitionList {
    /// At most 200: the list is never paged.
    pub data: Vec<AttributeDefinitionView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "plan", "label": "Plan", "kind": "list", "options": ["free", "pro", "enterprise"], "description": "The billing plan, synced from the CRM."}))]
pub struct NewAttributeDefinition {
    /// 1 to 64 lower-case letters, digits and `_`, starting with a letter. Fixed once created.
    pub key: String,
    /// 1 to 100 characters, one line.
    pub label: String,
    /// `text` (at most 1,000 characters), `number`, `boolean`, `date` (`YYYY-MM-DD`) or
    /// `list` (one of `options`). Fixed once created.
    pub kind: String,
    /// Required for `list` (1 to 200 distinct strings of 1 to 100 characters), refused
    /// for every other kind.
    #[schema(max_items = 200)]
    pub options: Option<Vec<String>>,
    /// At most 1,000 characters.
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"label": "Billing plan", "options": ["free", "pro", "business", "enterprise"]}))]
pub struct AttributeDefinitionPatch {
    pub label: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>, nullable)]
    pub description: Option<Option<String>>,
    /// Replaces a `list`'s options. Refused (`409`) while a customer holds a value the new
    /// options leave out: change those values first.
    #[schema(max_items = 200)]
    pub options: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerAttributeView {
    #[schema(value_type = String, example = "seats")]
    pub key: AttributeKey,
    /// Of the definition's kind: a string (`text`, `date`, `list`), a number or a boolean.
    #[schema(value_type = Value, example = 12)]
    pub value: serde_json::Value,
    /// Who set it: `agent` or `connector` (an API key).
    #[schema(example = "agent")]
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

impl From<AttributeValue> for CustomerAttributeView {
    fn from(v: AttributeValue) -> Self {
        Self { key: v.key, value: v.value, source: v.source, updated_at: v.updated_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerAttributesView {
    /// By key.
    pub attributes: Vec<CustomerAttributeView>,
}

impl CustomerAttributesView {
    fn new(values: Vec<AttributeValue>) -> Self {
        Self { attributes: values.into_iter().map(CustomerAttributeView::from).collect() }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"values": {"plan": "pro", "seats": 12, "vip": null}}))]
pub struct CustomerAttributesUpdate {
    /// Key to value. A listed key is set, `null` removes it, and keys not listed keep
    /// their values.
    #[schema(value_type = std::collections::HashMap<String, Value>)]
    pub values: serde_json::Map<String, serde_json::Value>,
}

fn definition_not_found(error: DbError) -> ApiError {
    match error {
        DbError::NotFound => ApiError::not_found("attribute definition with this key"),
        DbError::Conflict(_) => ApiError::new(ErrorCode::Conflict, "an attribute with this key is defined already")
            .with_extra(serde_json::json!({ "field": "key" })),
        other => other.into(),
    }
}

/// A key in a path: one that cannot be valid names no definition.
fn path_key(key: &str) -> Result<AttributeKey, ApiError> {
    AttributeKey::parse(key).map_err(|_| ApiError::not_found("attribute definition with this key"))
}

fn options(given: Option<Vec<String>>) -> Result<Option<ListOptions>, ApiError> {
    Ok(given.as_deref().map(ListOptions::parse).transpose()?)
}

/// Define an attribute (admin).
#[utoipa::path(
    tag = "customers",
    operation_id = "createAttributeDefinition",
    request_body = NewAttributeDefinition,
    responses(
        (status = 201, description = "Created.", body = AttributeDefinitionView),
        responses::Auth, responses::BadInput,
        (status = 409, description = "The key is taken (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/attribute-definitions")]
async fn create_definition(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewAttributeDefinition>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let kind: AttributeKind = body.kind.parse()?;
    let options = options(body.options)?;
    attribute::check_options(kind, options.as_ref())?;
    let new = NewDefinition {
        key: AttributeKey::parse(&body.key)?,
        label: AttributeLabel::parse(&body.label)?,
        kind,
        options,
        description: body.description.as_deref().map(attribute::description).transpose()?.flatten(),
    };
    let definition = state.db.run(move |conn| attributes::create(conn, &new)).await.map_err(definition_not_found)?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/attribute-definitions/{}", definition.key)))
        .json(AttributeDefinitionView::from(definition)))
}

/// List every attribute definition, by key (at most 200, never paged).
#[utoipa::path(
    tag = "customers",
    operation_id = "listAttributeDefinitions",
    responses((status = 200, description = "Every definition.", body = AttributeDefinitionList), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/attribute-definitions")]
async fn list_definitions(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let definitions = state.db.run(attributes::list).await?;
    Ok(HttpResponse::Ok()
        .json(AttributeDefinitionList { data: definitions.into_iter().map(AttributeDefinitionView::from).collect() }))
}

/// Get an attribute definition.
#[utoipa::path(
    tag = "customers",
    operation_id = "getAttributeDefinition",
    params(("key" = String, Path)),
    responses((status = 200, description = "The definition.", body = AttributeDefinitionView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/attribute-definitions/{key}")]
async fn get_definition(
    state: web::Data<AppState>,
    caller: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let key = path_key(&key)?;
    let definition = state.db.run(move |conn| attributes::get(conn, &key)).await.map_err(definition_not_found)?;
    Ok(HttpResponse::Ok().json(AttributeDefinitionView::from(definition)))
}

/// Change an attribute definition's label, description or options (admin).
///
/// The key and kind never change. New options for a `list` are refused with `409` while a
/// customer holds a value they leave out.
#[utoipa::path(
    tag = "customers",
    operation_id = "updateAttributeDefinition",
    params(("key" = String, Path)),
    request_body = AttributeDefinitionPatch,
    responses(
        (status = 200, description = "The definition as changed.", body = AttributeDefinitionView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "Customers hold values the new options leave out (`conflict`, `extra.field`: `options`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[patch("/v1/attribute-definitions/{key}")]
async fn update_definition(
    state: web::Data<AppState>,
    caller: Principal,
    key: web::Path<String>,
    body: web::Json<AttributeDefinitionPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let key = path_key(&key)?;
    let body = body.into_inner();
    let changes = DefinitionChanges {
        label: body.label.as_deref().map(AttributeLabel::parse).transpose()?,
        description: body
            .description
            .map(|d| d.as_deref().map(attribute::description).transpose().map(Option::flatten))
            .transpose()?,
        options: options(body.options)?,
    };
    let definition =
        state.db.run(move |conn| attributes::update(conn, &key, &changes)).await.map_err(definition_not_found)?;
    Ok(HttpResponse::Ok().json(AttributeDefinitionView::from(definition)))
}

/// Delete an attribute definition and every customer's value of it (admin).
#[utoipa::path(
    tag = "customers",
    operation_id = "deleteAttributeDefinition",
    params(("key" = String, Path)),
    responses((status = 204, description = "Deleted, with every value of it."), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/attribute-definitions/{key}")]
async fn delete_definition(
    state: web::Data<AppState>,
    caller: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let key = path_key(&key)?;
    state.db.run(move |conn| attributes::delete(conn, &key)).await.map_err(definition_not_found)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A customer's attribute values.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomerAttributes",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The customer's values, by key.", body = CustomerAttributesView),
        responses::Auth, responses::NotFound,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}/attributes")]
async fn get_values(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let id = id.into_inner();
    let values = state.db.run(move |conn| attributes::values_of(conn, id)).await.map_err(super::customer_not_found)?;
    Ok(HttpResponse::Ok().json(CustomerAttributesView::new(values)))
}

/// Set some of a customer's attribute values.
///
/// This merges, it does not replace: each key listed in `values` is set, `null` removes
/// that key's value, and keys not listed keep theirs. Each value is checked against its
/// key's definition and stored normalised (text trimmed, dates as `YYYY-MM-DD`); an
/// unknown key or a bad value is `422` naming `values.<key>`, and then nothing changes.
/// A customer holds at most 100 values. `source` records who set a value: `agent`, or
/// `connector` for an API key.
#[utoipa::path(
    tag = "customers",
    operation_id = "setCustomerAttributes",
    params(("id" = String, Path, format = Uuid)),
    request_body = CustomerAttributesUpdate,
    responses(
        (status = 200, description = "All the customer's values after the change, by key.", body = CustomerAttributesView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[put("/v1/customers/{id}/attributes")]
async fn set_values(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    body: web::Json<CustomerAttributesUpdate>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let values = body.into_inner().values;
    // No more keys than there can be definitions: the body limit bounds bytes, this the work.
    if values.len() > MAX_DEFINITIONS {
        return Err(ApiError::over_limit("values", MAX_DEFINITIONS));
    }
    let changes = values
        .into_iter()
        .map(|(key, value)| {
            let key = AttributeKey::parse(&key).map_err(|e| {
                ApiError::new(ErrorCode::ValidationFailed, format!("values: {}", e.message))
                    .with_extra(serde_json::json!({ "field": "values" }))
            })?;
            Ok((key, (!value.is_null()).then_some(value)))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let source = super::trust_source_of(&caller).as_str();
    let id = id.into_inner();
    let values = state
        .db
        .run(move |conn| attributes::set_values(conn, id, &changes, source))
        .await
        .map_err(super::customer_not_found)?;
    Ok(HttpResponse::Ok().json(CustomerAttributesView::new(values)))
}
