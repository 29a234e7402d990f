//! API keys for integrations (admin only): created with scopes, the secret shown once.

use actix_web::{HttpResponse, delete, get, post, web};
use braid_core::Scope;
use braid_db::auth::{self, ApiKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::idempotency::NotReplayable;
use crate::{ApiError, AppState, ErrorCode, Principal, tokens};

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The public part of the key (`brd_<prefix>_…`), to tell keys apart.
    pub prefix: String,
    #[schema(value_type = Vec<String>, example = json!(["tickets:read", "tickets:write"]))]
    pub scopes: Vec<Scope>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub created_by: Option<braid_core::AgentId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The connector a connector's key acts as (and only as).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub connector_id: Option<braid_core::ConnectorId>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            created_by: key.created_by,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            connector_id: key.connector_id,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CRM sync", "scopes": ["customers:read", "customers:write"]}))]
pub struct NewApiKey {
    pub name: String,
    /// Any of `tickets:read`, `tickets:write`, `customers:read`, `customers:write`, `admin`.
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The full key for `Authorization: Bearer`. Shown only in this response; store it.
    pub secret: String,
}

/// Create an API key.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "createApiKey",
    request_body = NewApiKey,
    responses(
        (status = 201, description = "Created; `secret` is shown only now.", body = CreatedApiKey),
        responses::Auth, responses::BadInput,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/api-keys")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewApiKey>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let NewApiKey { name, mut scopes } = body.into_inner();
    let name = name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > 100
        || name.chars().any(|c| c.is_control() || braid_core::text::disguises(c))
    {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "name is 1 to 100 characters, no control characters"));
    }
    if scopes.is_empty() {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "give the key at least one scope"));
    }
    scopes.sort();
    scopes.dedup();
    let generated = tokens::new_api_key();
    let created_by = caller.agent_id();
    let (prefix, hash) = (generated.prefix.clone(), generated.secret_hash.clone());
    let key =
        state.db.run(move |conn| auth::insert_api_key(conn, &name, &prefix, &hash, &scopes, created_by, None)).await?;
    let mut response = HttpResponse::Created()
        .insert_header(("location", format!("/v1/api-keys/{}", key.id)))
        .json(CreatedApiKey { key: key.into(), secret: generated.token });
    // The secret exists once: a retry with the same Idempotency-Key makes a new key.
    response.extensions_mut().insert(NotReplayable);
    Ok(response)
}

/// List API keys (never their secrets).
#[utoipa::path(
    tag = "api-keys",
    operation_id = "listApiKeys",
    responses((status = 200, description = "Every key, revoked ones included.", body = Vec<ApiKeyView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/api-keys")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let keys = state.db.run(auth::list_api_keys).await?;
    Ok(HttpResponse::Ok().json(keys.into_iter().map(ApiKeyView::from).collect::<Vec<_>>()))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "revokeApiKey",
    params(("id" = String, Path, description = "The key's id.")),
    responses((status = 200, description = "Revoked.", body = ApiKeyView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/api-keys/{id}")]
async fn revoke(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let key = state.db.run(move |conn| auth::revoke_api_key(conn, &id)).await.map_err(|e| match e {
        braid_db::DbError::NotFound => ApiError::not_found("API key with this id"),
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(ApiKeyView::from(key)))
}
