//! `POST /widget/v1/sessions`: a visitor starts (or refreshes) a chat session.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use braid_core::{CustomerName, EmailAddress, IdentityKind, IdentityValue, Trust};
use braid_db::chat::visitors::{self, SignedUser, Visitor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limits::Limit;
use super::{check_origin, too_many};
use crate::cors::AllowedOrigin;
use crate::error::responses;
use crate::rates::address_key;
use crate::{ApiError, AppState, ErrorCode, tokens};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"site_key": "site_3kTq9fJ2", "identity_token": null, "visitor_token": null}))]
pub struct NewSession {
    /// The site's public key, from its script tag.
    pub site_key: String,
    /// A JWT the site's own backend signed for its signed-in user (HS256 with one of the
    /// site's secrets, `kid` header, `exp` required; `sub` the site's user id; optional
    /// `email`, `email_verified`, `name`). Required on a `strict` site.
    pub identity_token: Option<String>,
    /// The visitor token this browser had: the same visitor continues (also up to
    /// `refresh_window` after it expired).
    pub visitor_token: Option<String>,
    /// Pre-chat fields an anonymous visitor typed: a claim, never a proof. An email
    /// somebody else holds becomes a merge suggestion for agents; the visitor learns
    /// nothing either way.
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Send as `Authorization: Bearer` to the widget API, and in the socket's `auth` frame.
    pub visitor_token: String,
    pub expires_at: DateTime<Utc>,
    pub visitor: VisitorSummary,
    /// `thread`: a signed user reads every public message of their thread; `own`: an
    /// anonymous visitor reads what they wrote and the chat answers to it.
    #[schema(example = "own")]
    pub history: &'static str,
    /// The event-log position to follow from (`GET /widget/v1/messages` without `after`
    /// returns the history and this position).
    pub position: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorSummary {
    #[schema(value_type = String, format = Uuid)]
    pub id: braid_core::VisitorId,
    pub verified: bool,
}

fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

/// The most bytes a token may have (a JWT with a few claims is a few hundred).
const MAX_TOKEN_BYTES: usize = 4096;

/// Start or refresh a visitor's chat session.
///
/// Refused, storing nothing: an unknown site key (`404`), a page origin the site does not
/// allow (`403`), an identity token that is forged, `alg:none`, signed with an unknown
/// `kid`, expired, or longer-lived than the site allows (`401`), a `strict` site without
/// an identity token (`401`). Rate-limited per client address (`429` with `Retry-After`).
#[utoipa::path(
    tag = "widget",
    operation_id = "createWidgetSession",
    request_body = NewSession,
    responses(
        (status = 201, description = "The session.", body = SessionView),
        (status = 401, description = "A bad identity or visitor token, or none on a strict site.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The page's origin is not allowed.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No site has this key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sessions from this address; see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::BadInput,
    ),
)]
#[post("/widget/v1/sessions")]
async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<NewSession>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let address = crate::client::address(&request, &state.auth.trusted_proxies);
    state.chat.limits.admit(Limit::Sessions, &address_key(address)).await.map_err(too_many)?;
    for token in [&body.identity_token, &body.visitor_token].into_iter().flatten() {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(unauthorized("a token is longer than any valid one"));
        }
    }
    // Keys are `site_` and URL-safe base64: anything else is nobody's, and never reaches
    // the database (PostgreSQL refuses NUL bytes with an error).
    let well_formed =
        body.site_key.len() <= 64 && body.site_key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let site_key = body.site_key.clone();
    let found = match well_formed {
        true => state.db.run(move |conn| braid_db::chat::by_key(conn, &site_key)).await?,
        false => None,
    };
    let Some((site, secrets)) = found else {
        return Err(ApiError::not_found("site with this key"));
    };
    let origin = check_origin(&request, &site)?;

    // Who this browser was: a visitor token of this site, fresh or recently expired.
    let previous = match &body.visitor_token {
        None => None,
        Some(token) => {
            let (visitor, token_site) =
                tokens::verify_visitor_token(&state.auth.keys, token, state.chat.refresh_window)
                    .ok_or_else(|| unauthorized("invalid or expired visitor token; start without it"))?;
            if token_site != site.id {
                return Err(unauthorized("this visitor token belongs to another site"));
            }
            state.db.run(move |conn| visitors::get(conn, visitor)).await?
        }
    };

    let signed = match &body.identity_token {
        Some(token) => Some(signed_user(&site, &secrets, token)?),
        None if site.strict => return Err(unauthorized("this site needs an identity token for every visitor")),
        None => None,
    };
    let claimed_email = body.email.as_deref().map(EmailAddress::parse).transpose()?;
    let claimed_name = body.name.as_deref().map(CustomerName::parse).transpose()?.flatten();

    let site_id = site.id;
    let visitor: Visitor = match signed {
        Some(signed) => state.db.run(move |conn| visitors::sign_in(conn, site_id, previous, &signed)).await?.visitor,
        None => {
            // A signed visitor without a token is a new anonymous one: the token proved them,
            // and nothing else can.
            let previous = previous.filter(|v| !v.verified);
            let visitor = match previous {
                Some(visitor) => visitor,
                None => state.db.run(move |conn| visitors::create_anonymous(conn, site_id)).await?,
            };
            if let Some(email) = claimed_email {
                let (claimant, email) = (visitor.clone(), IdentityValue::email(&email));
                state.db.run(move |conn| visitors::claim_email(conn, &claimant, &email, claimed_name.as_ref())).await?;
            }
            visitor
        }
    };
    let (token, expires) = tokens::issue_visitor_token(&state.auth.keys, visitor.id, site.id, state.chat.visitor_ttl)
        .map_err(ApiError::internal)?;
    let position = state.db.run(braid_db::events::head).await?;
    request.extensions_mut().insert(AllowedOrigin(origin));
    let mut response = HttpResponse::Created().json(SessionView {
        visitor_token: token,
        expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
        visitor: VisitorSummary { id: visitor.id, verified: visitor.verified },
        history: visitor.history().as_str(),
        position: position.to_string(),
    });
    response.extensions_mut().insert(crate::idempotency::NotReplayable);
    Ok(response)
}

/// Checks the site's identity token and reads the user it names.
fn signed_user(site: &braid_db::chat::Site, secrets: &[(String, String)], token: &str) -> Result<SignedUser, ApiError> {
    let refused = |why: braid_core::chat::TokenRefusal| unauthorized(why.to_string());
    let claims = tokens::verify_identity_token(secrets, token).map_err(refused)?;
    let max = chrono::Duration::seconds(site.max_identity_token_secs);
    braid_core::chat::check_lifetime(claims.iat, claims.exp, braid_db::now(), max).map_err(refused)?;
    let sub = braid_core::chat::subject(claims.sub.as_deref().unwrap_or_default()).map_err(refused)?;
    let user = IdentityValue::parse(IdentityKind::External(site.slug.clone()), &sub)?;
    let email = match claims.email.as_deref() {
        Some(email) => {
            let email = EmailAddress::parse(email)?;
            let trust = if claims.email_verified { Trust::Verified } else { Trust::Claimed };
            Some((IdentityValue::email(&email), trust))
        }
        None => None,
    };
    let name = claims.name.as_deref().map(CustomerName::parse).transpose()?.flatten();
    Ok(SignedUser { user, email, name })
}
