//! Agent sign-in: `POST /v1/auth/login`, `/refresh` and `/logout`.

use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, post, web};
use braid_core::EmailAddress;
use braid_db::auth::{self, Attempt, Rotation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::idempotency::NotReplayable;
use crate::{ApiError, AppState, ErrorCode, password, tokens};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.org", "password": "correct horse battery"}))]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer`; short-lived.
    pub access_token: String,
    /// Exchange at `/v1/auth/refresh` for a new pair; each is good for one use.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "kq3S0Jd2yWb6mU9-4nY1e0rT8cVxZ7aQpL5fH2gK3sM"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Sign in with email and password.
///
/// After `login_max_failures` failed tries for one email within the window, further
/// tries get 429 with `Retry-After` until the window frees.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in.", body = TokenPair),
        (status = 401, description = "Wrong email or password (`unauthorized`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed tries (`rate_limited`); see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::BadInput,
    ),
)]
#[post("/v1/auth/login")]
async fn login(state: web::Data<AppState>, body: web::Json<Login>) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.into_inner();
    let email = EmailAddress::parse(&email).map_err(|_| wrong_credentials())?;
    // The attempt is counted before the password is checked, so parallel guesses cannot
    // all slip under the limit; a success clears the count.
    let (attempt, stored) = {
        let (email, max, window) = (email.clone(), state.auth.login_max_failures, state.auth.login_window);
        state
            .db
            .run(move |conn| {
                let attempt = auth::begin_login_attempt(conn, email.as_str(), max, window)?;
                Ok((attempt, braid_db::agents::password_hash(conn, &email)?))
            })
            .await?
    };
    if let Attempt::Throttled { until } = attempt {
        let wait = (until - braid_db::now()).num_seconds().max(1);
        let error = ApiError::new(ErrorCode::RateLimited, format!("too many failed sign-ins; retry in {wait} seconds"));
        let mut response = actix_web::ResponseError::error_response(&error);
        response.headers_mut().insert(RETRY_AFTER, wait.into());
        return Ok(response);
    }

    // An unknown email is checked against a hash too, so both answers take as long.
    let hash = stored.as_ref().map_or_else(|| password::dummy_hash().to_owned(), |(_, hash)| hash.clone());
    let matches = web::block(move || password::verify(&password, &hash)).await.map_err(ApiError::internal)?;
    let Some((agent, _)) = stored.filter(|_| matches) else {
        return Err(wrong_credentials());
    };

    let refresh_token = tokens::random_token();
    let refresh_hash = tokens::sha256_hex(&refresh_token);
    let expires = braid_db::now() + state.auth.refresh_ttl;
    let role = {
        let email = email.to_string();
        state
            .db
            .run(move |conn| {
                auth::clear_login_failures(conn, &email)?;
                let family = uuid::Uuid::now_v7().to_string();
                auth::insert_refresh_token(conn, agent, &family, &refresh_hash, expires)?;
                Ok(braid_db::agents::get(conn, agent)?.role)
            })
            .await?
    };
    Ok(secret(HttpResponse::Ok().json(pair(&state, agent, role, refresh_token)?)))
}

/// Marks an answer carrying tokens as never to be replayed.
fn secret(mut response: HttpResponse) -> HttpResponse {
    response.extensions_mut().insert(NotReplayable);
    response
}

fn wrong_credentials() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "wrong email or password")
}

fn pair(
    state: &AppState,
    agent: braid_core::AgentId,
    role: braid_core::Role,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let access =
        tokens::issue_access_token(&state.auth.keys, agent, role, state.auth.access_ttl).map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token: access,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.auth.access_ttl.num_seconds(),
    })
}

/// Exchange a refresh token for a new token pair.
///
/// Each refresh token works once. Presenting one that was already used means it leaked:
/// every token of that sign-in is revoked and the agent must sign in again.
#[utoipa::path(
    tag = "auth",
    operation_id = "refreshSession",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent.", body = TokenPair),
        (status = 401, description = "Unknown, expired, revoked or reused token (`unauthorized`).", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::BadInput,
    ),
)]
#[post("/v1/auth/refresh")]
async fn refresh(state: web::Data<AppState>, body: web::Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let presented = tokens::sha256_hex(&body.refresh_token);
    let next = tokens::random_token();
    let next_hash = tokens::sha256_hex(&next);
    let expires = braid_db::now() + state.auth.refresh_ttl;
    let rotation = state.db.run(move |conn| auth::rotate_refresh_token(conn, &presented, &next_hash, expires)).await?;
    let agent = match rotation {
        Rotation::Rotated { agent } => agent,
        Rotation::Reused => {
            tracing::warn!("a spent refresh token was presented again; its sign-in is revoked");
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this refresh token was already used; every session of that sign-in is revoked",
            ));
        }
        Rotation::Invalid => {
            return Err(ApiError::new(ErrorCode::Unauthorized, "unknown, expired or revoked refresh token"));
        }
    };
    let found = state.db.run(move |conn| braid_db::agents::get(conn, agent)).await?;
    if !found.active {
        return Err(ApiError::new(ErrorCode::Unauthorized, "this agent was deactivated"));
    }
    Ok(secret(HttpResponse::Ok().json(pair(&state, agent, found.role, next)?)))
}

/// Sign out: revoke the refresh token and every token of its sign-in.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also when the token was already unknown)."),
        responses::BadInput,
    ),
)]
#[post("/v1/auth/logout")]
async fn logout(state: web::Data<AppState>, body: web::Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let presented = tokens::sha256_hex(&body.refresh_token);
    state.db.run(move |conn| auth::revoke_refresh_token(conn, &presented)).await?;
    Ok(HttpResponse::NoContent().finish())
}
