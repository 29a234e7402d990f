//! Inbound email webhooks: raw RFC 5322 from an MTA or any forwarder
//! (`/v1/channels/email/inbound`), and the formats of Postmark (JSON), Mailgun (`body-mime`
//! form, HMAC-signed) and SendGrid (Inbound Parse with raw MIME). Each answers 2xx only
//! after its attachments are stored on disk and the message, with its raw original, is
//! placed in one committed transaction; a retry of the
//! same message answers with the first placement. A message that cannot be parsed is still
//! stored and placed, flagged — never lost, never a 500. An unauthenticated post is
//! refused before anything is read or stored.

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use braid_channels::email;
use braid_channels::email::providers::{self, Delivered};
use braid_core::{CustomerId, MessageId, TicketId};
use futures_util::StreamExt;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::{ApiError, AppState, ErrorCode};

/// Where an inbound email landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Placed {
    #[schema(value_type = String, format = Uuid)]
    pub message_id: MessageId,
    /// `null` when an automated message had no ticket to join.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub ticket_id: Option<TicketId>,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    /// The message had been received before; this answer repeats the first placement.
    pub duplicate: bool,
    /// The message could not be parsed; it was stored raw and filed under "unknown sender".
    pub malformed: bool,
}

/// Receive a raw email (`Content-Type: message/rfc822`).
///
/// Authenticate with `Authorization: Bearer <BRAID_EMAIL_INBOUND_SECRET>`. Answers 201
/// with where the message landed, or 200 when the same message (by Message-ID, or by its
/// bytes when it has none) was received before.
#[utoipa::path(
    tag = "channels",
    operation_id = "receiveEmail",
    request_body(content = String, content_type = "message/rfc822", description = "The message as received, headers and body."),
    responses(
        (status = 201, description = "Stored and placed.", body = Placed),
        (status = 200, description = "Received before; the first placement.", body = Placed),
        (status = 401, description = "Missing or wrong secret (`unauthorized`); nothing is stored.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `email_max_bytes` (`payload_too_large`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not `message/rfc822` (`unsupported_media_type`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No inbound secret is configured, or the server is too busy parsing mail to take this one now (`unavailable`); retry later.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("email_inbound" = [])),
)]
#[post("/v1/channels/email/inbound")]
async fn inbound(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_secret(&req, &state)?;
    let essence = essence(&req);
    if !matches!(essence.as_str(), "message/rfc822" | "application/octet-stream" | "text/plain") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the raw message as message/rfc822"));
    }
    let raw = read_limited(payload, state.email.max_bytes).await?;
    accept(&state, Delivered::Raw(raw.to_vec()), raw).await
}

/// Receive Postmark's inbound webhook (JSON).
///
/// Configure the webhook URL with basic auth (`https://braid:<secret>@host/…`) or send
/// the secret as a bearer token. With Postmark's "include raw email content" option the
/// raw message is used; otherwise the message is rebuilt from Postmark's fields.
#[utoipa::path(
    tag = "channels",
    operation_id = "receivePostmarkEmail",
    request_body(content = Object, content_type = "application/json", description = "Postmark's inbound message JSON."),
    responses(
        (status = 201, description = "Stored and placed.", body = Placed),
        (status = 200, description = "Received before; the first placement.", body = Placed),
        (status = 400, description = "Not Postmark's format (`bad_request`); nothing is stored.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong secret (`unauthorized`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `email_max_bytes`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No inbound secret is configured, or the server is too busy parsing mail to take this one now; retry later.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("email_inbound" = [])),
)]
#[post("/v1/channels/email/inbound/postmark")]
async fn postmark(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_secret(&req, &state)?;
    let json = read_limited(payload, state.email.max_bytes).await?;
    let delivered = providers::postmark(&json).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    accept(&state, delivered, json).await
}

/// Receive SendGrid Inbound Parse, configured to post the raw, full MIME message.
///
/// Authenticate with basic auth in the webhook URL or a bearer token carrying the
/// inbound secret. The raw message is the `email` form field.
#[utoipa::path(
    tag = "channels",
    operation_id = "receiveSendgridEmail",
    request_body(content = Object, content_type = "multipart/form-data", description = "SendGrid's form; `email` holds the raw message."),
    responses(
        (status = 201, description = "Stored and placed.", body = Placed),
        (status = 200, description = "Received before; the first placement.", body = Placed),
        (status = 400, description = "No `email` field (`bad_request`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong secret (`unauthorized`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `email_max_bytes`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No inbound secret is configured, or the server is too busy parsing mail to take this one now; retry later.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("email_inbound" = [])),
)]
#[post("/v1/channels/email/inbound/sendgrid")]
async fn sendgrid(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_secret(&req, &state)?;
    let mut form = read_form(&req, payload, state.email.max_bytes).await?;
    let raw = form.remove("email").ok_or_else(|| {
        ApiError::new(ErrorCode::BadRequest, "no `email` field: enable \"POST the raw, full MIME message\"")
    })?;
    accept(&state, Delivered::Raw(raw.clone()), web::Bytes::from(raw)).await
}

/// Receive Mailgun's forwarded message (a route action `forward()` to a URL ending in
/// `mime`, which posts `body-mime`).
///
/// Authenticated by Mailgun's signature: HMAC-SHA256 of `timestamp` and `token` with the
/// webhook signing key (`BRAID_MAILGUN_SIGNING_KEY`). Signatures older than five minutes
/// and tokens seen before are refused; a token is spent once its message is stored, so a
/// retry after a failure goes through.
#[utoipa::path(
    tag = "channels",
    operation_id = "receiveMailgunEmail",
    request_body(content = Object, content_type = "multipart/form-data", description = "Mailgun's form: `body-mime`, `timestamp`, `token`, `signature`."),
    responses(
        (status = 201, description = "Stored and placed.", body = Placed),
        (status = 200, description = "Received before; the first placement.", body = Placed),
        (status = 400, description = "No `body-mime` field (`bad_request`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad, stale or replayed signature (`unauthorized`); nothing is stored.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `email_max_bytes`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No Mailgun signing key is configured, or the server is too busy parsing mail to take this one now; retry later.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/channels/email/inbound/mailgun")]
async fn mailgun(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some(key) = state.email.mailgun_signing_key.clone() else {
        return Err(ApiError::new(ErrorCode::Unavailable, "Mailgun is not configured: set BRAID_MAILGUN_SIGNING_KEY"));
    };
    let mut form = read_form(&req, payload, state.email.max_bytes).await?;
    let field = |form: &std::collections::HashMap<String, Vec<u8>>, name: &str| {
        form.get(name).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
    };
    let (timestamp, token, signature) = (field(&form, "timestamp"), field(&form, "token"), field(&form, "signature"));
    let now = chrono::Utc::now().timestamp();
    if !providers::mailgun_signature_valid(&key, &timestamp, &token, &signature, now) {
        return Err(ApiError::new(ErrorCode::Unauthorized, "invalid or stale Mailgun signature"));
    }
    // The token is recorded only once the message is stored: a post that fails (a 5xx the
    // provider retries with the same token) must not make its own retry a "replay".
    let seen = {
        let token = token.clone();
        state.db.run(move |conn| braid_db::auth::webhook_token_seen(conn, "mailgun", &token)).await?
    };
    if seen {
        return Err(ApiError::new(ErrorCode::Unauthorized, "this Mailgun token was used before (a replay)"));
    }
    let raw = form.remove("body-mime").ok_or_else(|| {
        ApiError::new(ErrorCode::BadRequest, "no `body-mime` field: forward to a URL ending in `mime`")
    })?;
    let answer = accept(&state, Delivered::Raw(raw.clone()), web::Bytes::from(raw)).await?;
    let first_use =
        state.db.run(move |conn| braid_db::auth::first_use_of_webhook_token(conn, "mailgun", &token)).await?;
    if !first_use {
        tracing::warn!("a Mailgun token was used by two posts at once");
    }
    Ok(answer)
}

pub(crate) fn essence(req: &HttpRequest) -> String {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Reads the body, refusing it as soon as it passes `limit`.
pub(crate) async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut raw = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("cannot read the body: {e}")))?;
        if raw.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        raw.extend_from_slice(&chunk);
    }
    if raw.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "the body is empty"));
    }
    Ok(raw.freeze())
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("the message is larger than the limit of {limit} bytes"))
}

/// A provider's form, `multipart/form-data` or URL-encoded, as field name → bytes; at most
/// `limit` bytes in all.
async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<std::collections::HashMap<String, Vec<u8>>, ApiError> {
    let mut fields = std::collections::HashMap::new();
    match essence(req).as_str() {
        "application/x-www-form-urlencoded" => {
            let body = read_limited(payload, limit).await?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed form: {e}")))?;
            fields.extend(pairs.into_iter().map(|(k, v)| (k, v.into_bytes())));
        }
        "multipart/form-data" => {
            let mut multipart = actix_multipart::Multipart::new(req.headers(), payload.into_inner());
            let mut total = 0usize;
            while let Some(field) = multipart.next().await {
                let mut field =
                    field.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed form: {e}")))?;
                let name = field.name().unwrap_or_default().to_owned();
                let mut value = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk =
                        chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed form: {e}")))?;
                    total += chunk.len();
                    if total > limit {
                        return Err(too_large(limit));
                    }
                    value.extend_from_slice(&chunk);
                }
                fields.insert(name, value);
            }
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the provider's form (multipart/form-data)",
            ));
        }
    }
    Ok(fields)
}

/// Parses the delivery (on the bounded CPU pool), stores its attachments, and places it
/// with its original.
async fn accept(state: &AppState, delivered: Delivered, raw: web::Bytes) -> Result<HttpResponse, ApiError> {
    let tokens = state.email.reply_tokens.clone();
    let limits = state.email.limits;
    let received_at = braid_db::now();
    let email::Prepared { inbound: mut prepared, files } =
        state.cpu.run(move || email::prepare(delivered, &raw, Some(&tokens), &limits, received_at)).await?;
    // Attachments are files, written before the message that names them commits.
    let blobs = state.blobs.clone();
    web::block(move || files.iter().try_for_each(|(blob, bytes)| blobs.write(blob, bytes)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let malformed = prepared.details["malformed"].as_bool().unwrap_or(false);
    let person = prepared.authorship == braid_core::placement::Authorship::Person;
    // What follows from the message commits with it: a crash between them cannot lose one.
    prepared.follow_ups.acknowledgement =
        state.email.acknowledgement.clone().filter(|_| person && !malformed).map(|template| {
            braid_db::placement::Acknowledgement {
                template,
                name: prepared.sender_name.as_ref().map(|n| n.as_str().to_owned()),
            }
        });

    let policy = state.placement;
    let placement = state.db.run(move |conn| braid_db::placement::place(conn, &prepared, &policy)).await?;
    let placed = Placed {
        message_id: placement.message.id,
        ticket_id: placement.ticket.map(|t| t.id),
        customer_id: placement.customer_id,
        duplicate: placement.duplicate,
        malformed,
    };
    tracing::info!(message = %placed.message_id, duplicate = placed.duplicate, malformed, "inbound email placed");
    Ok(if placement.duplicate { HttpResponse::Ok().json(placed) } else { HttpResponse::Created().json(placed) })
}

/// The inbound secret, as a bearer token or as the password of basic auth (providers put
/// credentials in the webhook URL).
fn check_secret(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(secret) = state.email.inbound_secret.as_deref() else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "inbound email is not configured: set BRAID_EMAIL_INBOUND_SECRET",
        ));
    };
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let presented = if let Some(token) = header.strip_prefix("Bearer ") {
        token.to_owned()
    } else if let Some(encoded) = header.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded).into_owned();
        text.split_once(':').map(|(_, password)| password.to_owned()).unwrap_or_default()
    } else {
        String::new()
    };
    if bool::from(presented.as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Unauthorized, "send the inbound email secret (bearer, or basic auth password)"))
    }
}
