//! The chat widget's public surface (`/widget/v1/*`): sessions, messages, the visitor's
//! socket, and the script itself. Everything here takes input from any browser on the
//! internet: each call checks the site's allowed origins, carries a visitor token of our
//! own after the session call, is rate-limited per visitor and per address, and answers
//! nothing about a customer the visitor was not proven to be.

pub mod frames;
pub mod limits;
pub mod messages;
pub mod sessions;
pub mod socket;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, get, web};
use braid_db::chat::Site;
use braid_db::chat::visitors::Visitor;

use crate::cors::AllowedOrigin;
use crate::{ApiError, AppState, ErrorCode, tokens};

/// The chat channel's settings.
#[derive(Debug)]
pub struct ChatConfig {
    /// How long a visitor token lives; the widget refreshes it before then.
    pub visitor_ttl: chrono::Duration,
    /// How long after expiry a visitor token can still be refreshed (an anonymous
    /// visitor coming back tomorrow is the same visitor).
    pub refresh_window: chrono::Duration,
    /// The longest message a visitor may send, in characters.
    pub max_message_chars: usize,
    pub limits: limits::WidgetLimits,
}

/// The widget script, served as is.
#[utoipa::path(
    tag = "widget",
    operation_id = "widgetScript",
    responses((status = 200, description = "The widget: `<script src=\".../widget/v1/widget.js\" data-site-key=\"site_…\" async>`.", content_type = "text/javascript", body = String)),
)]
#[get("/widget/v1/widget.js")]
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(include_str!("widget.js"))
}

/// The browser's `Origin`, which must be one the site allows. A request without one is
/// not from a browser page and is refused too: the check is the site owner's promise
/// that only their pages talk to us.
pub fn check_origin(request: &HttpRequest, site: &Site) -> Result<String, ApiError> {
    let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or_default();
    if braid_core::chat::origin_allowed(&site.allowed_origins, origin) {
        Ok(origin.to_owned())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, "this page's origin is not among the site's allowed origins"))
    }
}

/// A visitor, from `Authorization: Bearer <visitor token>`, on a page of their site.
#[derive(Debug, Clone)]
pub struct VisitorAuth {
    pub visitor: Visitor,
    pub site: Site,
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

/// The visitor a token names, with their site, if it is valid now.
pub async fn visitor_of(state: &AppState, token: &str) -> Result<VisitorAuth, ApiError> {
    let (visitor, site) = tokens::verify_visitor_token(&state.auth.keys, token, chrono::Duration::zero())
        .ok_or_else(|| unauthorized("invalid or expired visitor token; start a new session"))?;
    let found = state
        .db
        .run(move |conn| {
            let Some(visitor) = braid_db::chat::visitors::get(conn, visitor)? else { return Ok(None) };
            Ok(Some((visitor, braid_db::chat::get(conn, site)?)))
        })
        .await;
    match found {
        Ok(Some((visitor, site))) if visitor.site_id == site.id => Ok(VisitorAuth { visitor, site }),
        Ok(_) | Err(braid_db::DbError::NotFound) => Err(unauthorized("this visitor no longer exists")),
        Err(other) => Err(other.into()),
    }
}

impl FromRequest for VisitorAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::new(ErrorCode::Internal, "no state"))?;
            let token = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| unauthorized("send `Authorization: Bearer <visitor token>`"))?
                .trim()
                .to_owned();
            let auth = visitor_of(&state, &token).await?;
            let origin = check_origin(&request, &auth.site)?;
            request.extensions_mut().insert(AllowedOrigin(origin));
            Ok(auth)
        })
    }
}

/// A problem answer with `Retry-After`.
pub fn too_many(seconds: u64) -> ApiError {
    ApiError::new(ErrorCode::RateLimited, "too many requests from this visitor or address; slow down")
        .with_extra(serde_json::json!({ "retry_after": seconds }))
}
