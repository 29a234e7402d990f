//! `POST /v1/channels/email/inbound`: a raw RFC 5322 message from an MTA or any
//! forwarder, authenticated with a bearer secret. It answers 2xx only after the raw
//! message is stored on disk and placed in one transaction; a retry of the same message
//! answers with the first placement. A message that cannot be parsed is still stored and
//! placed, flagged — never lost, never a 500.

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, post, web};
use braid_channels::blobs::Blob;
use braid_channels::email;
use braid_core::{CustomerId, MessageId, TicketId};
use futures_util::StreamExt;
use serde::Serialize;
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
    request_body(content = String, content_type = "message/rfc822", description = "The message as received, headers and body."),
    responses(
        (status = 201, description = "Stored and placed.", body = Placed),
        (status = 200, description = "Received before; the first placement.", body = Placed),
        (status = 401, description = "Missing or wrong secret (`unauthorized`); nothing is stored.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `email_max_bytes` (`payload_too_large`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not `message/rfc822` (`unsupported_media_type`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No inbound secret is configured (`unavailable`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("email_inbound" = [])),
)]
#[post("/v1/channels/email/inbound")]
async fn inbound(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !matches!(essence.as_str(), "message/rfc822" | "application/octet-stream" | "text/plain") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the raw message as message/rfc822"));
    }

    let limit = state.email.max_bytes;
    let mut raw = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("cannot read the body: {e}")))?;
        if raw.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the message is larger than the limit of {limit} bytes"),
            ));
        }
        raw.extend_from_slice(&chunk);
    }
    if raw.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "the body is empty; send the raw message"));
    }
    let raw = raw.freeze();

    // Parsing and storing files is CPU and disk work: off the HTTP workers.
    let blobs = state.blobs.clone();
    let received_at = braid_db::now();
    let prepared = web::block(move || -> std::io::Result<_> {
        let raw_blob = blobs.put(&raw)?;
        let inbound = match email::parse::parse(&raw) {
            Some(parsed) => {
                let stored =
                    parsed.attachments.iter().map(|a| blobs.put(&a.bytes)).collect::<Result<Vec<Blob>, _>>()?;
                email::inbound(&parsed, &raw_blob, &stored, received_at)
            }
            None => email::unparseable(&raw, &raw_blob, received_at),
        };
        Ok(inbound)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let malformed = prepared.details["malformed"].as_bool().unwrap_or(false);

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

fn authenticate(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(secret) = state.email.inbound_secret.as_deref() else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "inbound email is not configured: set BRAID_EMAIL_INBOUND_SECRET",
        ));
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Unauthorized, "send `Authorization: Bearer <the inbound email secret>`"))
    }
}

/// Compares without an early exit, so the time taken says nothing about the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
