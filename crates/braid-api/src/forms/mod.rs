//! The web form channel's public surface (`/forms/v1/*`): a website's contact form posts
//! here, from a plain HTML form or from a page's script. Everything here takes input from
//! any browser on the internet: each call checks the form's allowed origins, is
//! rate-limited per client address and per form, is size-limited, passes the spam rules
//! (honeypot, minimum fill time by a signed form token, an optional captcha) before
//! anything is stored, and answers nothing about the customer the typed email belongs to.

pub mod submissions;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use braid_db::forms::Form;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cors::AllowedOrigin;
use crate::rates::{Counters, address_key};
use crate::{ApiError, AppState, ErrorCode, tokens};

/// The web form channel's settings.
#[derive(Debug)]
pub struct FormsConfig {
    pub limits: FormLimits,
    /// The largest submission, attachments included.
    pub max_bytes: usize,
    /// Files one submission may carry.
    pub max_attachments: usize,
    /// Checks captcha answers, when a secret is configured: every form then needs one.
    pub captcha: Option<braid_channels::web_form::Captcha>,
}

/// Per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub submissions_per_address: u32,
    pub submissions_per_form: u32,
    pub tokens_per_address: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Self { submissions_per_address: 10, submissions_per_form: 120, tokens_per_address: 60 }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Limit {
    SubmissionsPerAddress,
    SubmissionsPerForm,
    TokensPerAddress,
}

#[derive(Debug)]
pub struct FormLimits(Counters);

impl FormLimits {
    pub fn new(rates: Rates, redis: Option<redis::aio::ConnectionManager>) -> Self {
        let per_limit = [rates.submissions_per_address, rates.submissions_per_form, rates.tokens_per_address];
        Self(Counters::new("form", &per_limit, redis))
    }

    /// Counts one use of `limit` by `key`; `Err(seconds)` to wait when over it.
    pub async fn admit(&self, limit: Limit, key: &str) -> Result<(), u64> {
        self.0.admit(limit as usize, key).await
    }
}

fn too_many(seconds: u64) -> ApiError {
    ApiError::new(ErrorCode::RateLimited, "too many submissions from this address or to this form; slow down")
        .with_extra(serde_json::json!({ "retry_after": seconds }))
}

/// The enabled form a public key names. Keys are `form_` and URL-safe base64: anything
/// else is nobody's and never reaches the database (PostgreSQL refuses NUL bytes).
async fn form_of(state: &AppState, form_key: String) -> Result<Form, ApiError> {
    let well_formed =
        form_key.len() <= 64 && form_key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let found = match well_formed {
        true => state.db.run(move |conn| braid_db::forms::by_key(conn, &form_key)).await?,
        false => None,
    };
    found.filter(|form| form.enabled).ok_or_else(|| ApiError::not_found("form with this key"))
}

/// The page's `Origin`, which must be one the form allows; a request without one is not
/// from a page and is refused too. Once checked, the answer (an error too) names it for
/// CORS, so the page's script can read it.
fn check_origin(request: &HttpRequest, form: &Form) -> Result<String, ApiError> {
    let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or_default();
    if !braid_core::chat::origin_allowed(&form.allowed_origins, origin) {
        return Err(ApiError::new(ErrorCode::Forbidden, "this page's origin is not among the form's allowed origins"));
    }
    request.extensions_mut().insert(AllowedOrigin(origin.to_owned()));
    Ok(origin.to_owned())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormToken {
    /// Post it as the `_token` field.
    pub token: String,
    /// Posting sooner is refused as spam (`too_fast`): the form's minimum fill time.
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The field to leave empty (hide it from people; bots fill it in).
    #[schema(example = "_gotcha")]
    pub honeypot: String,
}

/// A form token: the page fetches it when it shows the form and posts it as `_token`.
///
/// A form with `min_fill_secs` above 0 refuses submissions without one, posted sooner than
/// that after it was issued, or more than a day later.
#[utoipa::path(
    tag = "forms",
    operation_id = "createFormToken",
    params(("form_key" = String, Path, description = "The form's public key.")),
    responses(
        (status = 200, description = "A token for this form.", body = FormToken),
        (status = 403, description = "The page's origin is not allowed.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No enabled form has this key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many tokens for this address; see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/forms/v1/{form_key}/token")]
async fn token(
    state: web::Data<AppState>,
    request: HttpRequest,
    form_key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let address = address_key(crate::client::address(&request, &state.auth.trusted_proxies));
    state.forms.limits.admit(Limit::TokensPerAddress, &address).await.map_err(too_many)?;
    let form = form_of(&state, form_key.into_inner()).await?;
    check_origin(&request, &form)?;
    let token = tokens::issue_form_token(&state.auth.keys, form.id).map_err(ApiError::internal)?;
    let now = Utc::now();
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(FormToken {
        token,
        not_before: now + chrono::Duration::seconds(form.min_fill_secs.into()),
        expires_at: now + braid_core::form::TOKEN_MAX_AGE,
        honeypot: form.honeypot,
    }))
}
