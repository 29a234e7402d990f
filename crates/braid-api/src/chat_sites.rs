//! Chat sites (admin): the websites that embed the widget, their allowed origins, and the
//! secrets their backends sign visitors' identity tokens with.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use braid_core::{Scope, SiteId};
use braid_db::chat::{self, KeyId, NewSite, Site, SiteChanges};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::{ApiError, AppState, ErrorCode, Principal, tokens};

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SiteId,
    /// Public: it goes in the page's script tag.
    #[schema(example = "site_3kTq9fJ2")]
    pub site_key: String,
    pub name: String,
    /// Names the site's signed users' identities: `external:<slug>`.
    #[schema(example = "acme-web")]
    pub slug: String,
    #[schema(example = json!(["https://shop.example"]))]
    pub allowed_origins: Vec<String>,
    /// Every visitor needs an identity token.
    pub strict: bool,
    pub max_identity_token_secs: i64,
    /// The identity secrets' key ids (the secrets are shown once, when made).
    pub key_ids: Vec<KeyIdView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyIdView {
    pub kid: String,
    pub created_at: DateTime<Utc>,
}

impl From<KeyId> for KeyIdView {
    fn from(k: KeyId) -> Self {
        Self { kid: k.kid, created_at: k.created_at }
    }
}

impl From<Site> for SiteView {
    fn from(site: Site) -> Self {
        Self {
            id: site.id,
            site_key: site.site_key,
            name: site.name,
            slug: site.slug,
            allowed_origins: site.allowed_origins,
            strict: site.strict,
            max_identity_token_secs: site.max_identity_token_secs,
            key_ids: site.key_ids.into_iter().map(KeyIdView::from).collect(),
            created_at: site.created_at,
            updated_at: site.updated_at,
        }
    }
}

/// A new identity secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub kid: String,
    /// The HS256 secret the site's backend signs identity tokens with (header `kid`).
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSite {
    #[serde(flatten)]
    pub site: SiteView,
    pub secret: SecretView,
}

/// The longest identity-token lifetime a site may allow: a week.
const MAX_TOKEN_LIFETIME: i64 = 7 * 86_400;
/// The default: a day.
const DEFAULT_TOKEN_LIFETIME: i64 = 86_400;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme web", "slug": "acme-web", "allowed_origins": ["https://shop.example"], "strict": false}))]
pub struct NewSiteBody {
    pub name: String,
    pub slug: String,
    #[schema(max_items = 50)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub strict: bool,
    /// The longest identity-token lifetime accepted (`exp` - `iat`), 60 to 604800 seconds;
    /// a day when left out.
    pub max_identity_token_secs: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"allowed_origins": ["https://shop.example", "https://www.shop.example"], "strict": true}))]
pub struct SitePatch {
    pub name: Option<String>,
    #[schema(max_items = 50)]
    pub allowed_origins: Option<Vec<String>>,
    pub strict: Option<bool>,
    pub max_identity_token_secs: Option<i64>,
}

fn name(input: &str) -> Result<String, ApiError> {
    Ok(braid_core::text::label("name", input)?)
}

fn origins(input: &[String]) -> Result<Vec<String>, ApiError> {
    Ok(braid_core::chat::allowed_origins(input)?)
}

fn lifetime(secs: i64) -> Result<i64, ApiError> {
    if (60..=MAX_TOKEN_LIFETIME).contains(&secs) {
        Ok(secs)
    } else {
        Err(braid_core::InvalidValue::new("max_identity_token_secs", "60 to 604800 seconds").into())
    }
}

fn db_error(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("chat site with this id"),
        braid_db::DbError::Conflict(_) => {
            ApiError::new(ErrorCode::Conflict, "a site (or a connector) with this slug, or this key id, exists")
        }
        other => other.into(),
    }
}

fn new_kid() -> String {
    format!("k{}", &tokens::random_token()[..8])
}

/// Create a chat site, with its first identity secret (shown once).
#[utoipa::path(
    tag = "chat",
    operation_id = "createChatSite",
    request_body = NewSiteBody,
    responses((status = 201, description = "Created; `secret` is shown only now.", body = CreatedSite), responses::Auth, responses::BadInput, responses::Conflict),
    security(("bearer" = [])),
)]
#[post("/v1/chat/sites")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewSiteBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let new = NewSite {
        site_key: format!("site_{}", &tokens::random_token()[..20]),
        name: name(&body.name)?,
        slug: braid_core::chat::site_slug(&body.slug)?,
        allowed_origins: origins(&body.allowed_origins)?,
        strict: body.strict,
        max_identity_token_secs: lifetime(body.max_identity_token_secs.unwrap_or(DEFAULT_TOKEN_LIFETIME))?,
        kid: new_kid(),
        secret: tokens::random_token(),
    };
    let (kid, secret) = (new.kid.clone(), new.secret.clone());
    let site = state.db.run(move |conn| chat::create(conn, &new)).await.map_err(db_error)?;
    let created_at = site.created_at;
    let mut response = HttpResponse::Created()
        .insert_header(("location", format!("/v1/chat/sites/{}", site.id)))
        .json(CreatedSite { site: site.into(), secret: SecretView { kid, secret, created_at } });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// List chat sites, oldest first (at most 200).
#[utoipa::path(
    tag = "chat",
    operation_id = "listChatSites",
    responses((status = 200, description = "The sites.", body = Vec<SiteView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/chat/sites")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let sites = state.db.run(|conn| chat::list(conn, 200)).await?;
    Ok(HttpResponse::Ok().json(sites.into_iter().map(SiteView::from).collect::<Vec<_>>()))
}

/// Get a chat site.
#[utoipa::path(
    tag = "chat",
    operation_id = "getChatSite",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The site.", body = SiteView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/chat/sites/{id}")]
async fn get(state: web::Data<AppState>, caller: Principal, id: web::Path<SiteId>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let site = state.db.run(move |conn| chat::get(conn, id)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(SiteView::from(site)))
}

/// Change a chat site's name, allowed origins, strictness or token lifetime.
#[utoipa::path(
    tag = "chat",
    operation_id = "updateChatSite",
    params(("id" = String, Path, format = Uuid)),
    request_body = SitePatch,
    responses((status = 200, description = "The site as changed.", body = SiteView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/chat/sites/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SiteId>,
    body: web::Json<SitePatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let changes = SiteChanges {
        name: body.name.as_deref().map(name).transpose()?,
        allowed_origins: body.allowed_origins.as_deref().map(origins).transpose()?,
        strict: body.strict,
        max_identity_token_secs: body.max_identity_token_secs.map(lifetime).transpose()?,
    };
    let id = id.into_inner();
    let site = state.db.run(move |conn| chat::update(conn, id, &changes)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(SiteView::from(site)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kid": "2026-12"}))]
pub struct NewSecret {
    /// The key id the site's backend will put in its tokens' header; one is made up when
    /// left out.
    pub kid: Option<String>,
}

/// Add an identity secret (rotation: add, move the site's backend to it, then delete the
/// old one). The secret is shown once.
#[utoipa::path(
    tag = "chat",
    operation_id = "addChatSiteSecret",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewSecret,
    responses((status = 201, description = "The new secret, shown only now.", body = SecretView), responses::Auth, responses::NotFound, responses::BadInput, responses::Conflict),
    security(("bearer" = [])),
)]
#[post("/v1/chat/sites/{id}/secrets")]
async fn add_secret(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SiteId>,
    body: web::Json<NewSecret>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let kid = match body.into_inner().kid {
        Some(kid) => braid_core::chat::site_slug(&kid)
            .map_err(|_| braid_core::InvalidValue::new("kid", "1 to 64 lower-case letters, digits, `-` and `_`"))?,
        None => new_kid(),
    };
    let (id, secret) = (id.into_inner(), tokens::random_token());
    let stored = secret.clone();
    let key = state.db.run(move |conn| chat::add_secret(conn, id, &kid, &stored)).await.map_err(db_error)?;
    let mut response = HttpResponse::Created().json(SecretView { kid: key.kid, secret, created_at: key.created_at });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// Delete an identity secret: tokens signed with it stop working at once. The last one
/// cannot be deleted (`409`).
#[utoipa::path(
    tag = "chat",
    operation_id = "deleteChatSiteSecret",
    params(("id" = String, Path, format = Uuid), ("kid" = String, Path)),
    responses((status = 204, description = "Deleted."), responses::Auth, responses::NotFound, responses::Conflict),
    security(("bearer" = [])),
)]
#[delete("/v1/chat/sites/{id}/secrets/{kid}")]
async fn remove_secret(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(SiteId, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let (id, kid) = path.into_inner();
    if braid_core::chat::site_slug(&kid).is_err() {
        return Err(ApiError::not_found("secret with this key id"));
    }
    state.db.run(move |conn| chat::remove_secret(conn, id, &kid)).await.map_err(db_error)?;
    Ok(HttpResponse::NoContent().finish())
}
