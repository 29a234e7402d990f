//! Agent sign-in: `POST /v1/auth/login`, `/refresh` and `/logout`.

use actix_web::http::header::RETRY_AFTER;
use std::net::{IpAddr, Ipv4Addr};

use actix_web::{HttpRequest, HttpResponse, post, web};
use braid_core::EmailAddress;
use braid_db::auth::{self, Attempt, Rotation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::idempotency::NotReplayable;
use crate::{ApiError, AppState, ErrorCode, client, password, tokens};

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
/// Throttled three ways, each answered with `Retry-After`: more than
/// `login_address_per_minute` tries from one client address get 429; after
/// `login_max_failures` failed tries for one email from one address within the window,
/// further tries from that address get 429 until the window frees (the owner at another
/// address is not locked out); and when more password checks are running than the server
/// has cores for, a try that cannot start within a moment gets 503.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in.", body = TokenPair),
        (status = 401, description = "Wrong email or password (`unauthorized`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many tries from this address, or too many failed tries for this email from it (`rate_limited`); see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many sign-ins at once on this server (`unavailable`); see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::BadInput,
    ),
)]
#[post("/v1/auth/login")]
async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.into_inner();
    let address = client::address(&request, &state.auth.trusted_proxies).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Err(wait) = state.auth.guards.admit(address) {
        let detail = format!("too many sign-ins from this address; retry in {wait} seconds");
        return Ok(retry_later(ErrorCode::RateLimited, detail, wait));
    }
    let email = EmailAddress::parse(&email).map_err(|_| wrong_credentials())?;
    // The permit is taken before the attempt is counted, so a sign-in turned away for load
    // does not count as a failure against the email.
    let Some(permit) = state.auth.guards.try_hash_permit().await else {
        return Ok(retry_later(ErrorCode::Unavailable, "too many sign-ins at once; retry in a second".into(), 1));
    };
    // The attempt is counted before the password is checked, so parallel guesses cannot
    // all slip under the limit; a success clears the count.
    let key = client::throttle_key(address).to_string();
    let (attempt, stored) = {
        let (email, key, max, window) =
            (email.clone(), key.clone(), state.auth.login_max_failures, state.auth.login_window);
        state
            .db
            .run(move |conn| {
                let attempt = auth::begin_login_attempt(conn, email.as_str(), &key, max, window)?;
                Ok((attempt, braid_db::agents::password_hash(conn, &email)?))
            })
            .await?
    };
    if let Attempt::Throttled { until } = attempt {
        let wait = u64::try_from((until - braid_db::now()).num_seconds()).unwrap_or(0).max(1);
        let detail = format!("too many failed sign-ins; retry in {wait} seconds");
        return Ok(retry_later(ErrorCode::RateLimited, detail, wait));
    }

    // An unknown email is checked against a hash too, so both answers take as long.
    let hash = stored.as_ref().map_or_else(|| password::dummy_hash().to_owned(), |(_, hash)| hash.clone());
    let matches = web::block(move || {
        let matches = password::verify(&password, &hash);
        drop(permit);
        matches
    })
    .await
    .map_err(ApiError::internal)?;
    let Some((agent, _)) = stored.filter(|_| matches) else {
        return Err(wrong_credentials());
    };

    let refresh_token = tokens::random_token();
    let refresh_hash = tokens::sha256_hex(&refresh_token);
    let expires = braid_db::now() + state.auth.refresh_ttl;
    let (session, role) = {
        let email = email.to_string();
        state
            .db
            .run(move |conn| {
                auth::clear_login_failures(conn, &email, &key)?;
                let session = auth::start_session(conn, agent, &refresh_hash, expires)?;
                Ok((session, braid_db::agents::get(conn, agent)?.role))
            })
            .await?
    };
    Ok(secret(HttpResponse::Ok().json(pair(&state, agent, role, &session, refresh_token)?)))
}

/// A problem answer with `Retry-After`.
fn retry_later(code: ErrorCode, detail: String, seconds: u64) -> HttpResponse {
    let mut response = actix_web::ResponseError::error_response(&ApiError::new(code, detail));
    response.headers_mut().insert(RETRY_AFTER, seconds.into());
    response
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
    session: &str,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let access = tokens::issue_access_token(&state.auth.keys, agent, role, session, state.auth.access_ttl)
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token: access,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.auth.access_ttl.num_seconds(),
    })
}

/// Exchange a refresh token for a new token pair.
///
/// Each refresh token works once. Presenting it again within `refresh_grace_secs` of its
/// use (parallel refreshes, a retry after a lost answer) returns the same successor token.
/// Presenting it later means it leaked: the sign-in ends, its access tokens stop working,
/// and the agent must sign in again.
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
    let next = state.auth.successor_key.successor(&body.refresh_token);
    let next_hash = tokens::sha256_hex(&next);
    let expires = braid_db::now() + state.auth.refresh_ttl;
    let grace = state.auth.refresh_grace;
    let rotation =
        state.db.run(move |conn| auth::rotate_refresh_token(conn, &presented, &next_hash, expires, grace)).await?;
    let (agent, session) = match rotation {
        Rotation::Rotated { agent, session, again } => {
            if again {
                tracing::debug!(%session, "a refresh token was presented again within the grace period");
            }
            (agent, session)
        }
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
    Ok(secret(HttpResponse::Ok().json(pair(&state, agent, found.role, &session, next)?)))
}

/// Sign out: end the sign-in; its refresh and access tokens stop working at once.
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
