//! Attachments by id (their SHA-256): `POST /v1/attachments` uploads a file for a reply
//! (or a connector's message, which a connector's key may upload too),
//! `GET /v1/attachments/{id}` downloads one: an inbound attachment or an upload (a raw
//! message is its message's `original`). Always served as a download, never rendered, so
//! a hostile file cannot run in the agent's browser.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use braid_core::Scope;
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::responses;
use crate::messages::ReplyAttachment;
use crate::{ApiError, AppState, ErrorCode, Principal};

/// Download an attachment.
#[utoipa::path(
    tag = "attachments",
    operation_id = "downloadAttachment",
    params(("id" = String, Path, description = "The attachment's id: the SHA-256 from the message's `details`.")),
    responses(
        (status = 200, description = "The bytes, as `application/octet-stream` with `Content-Disposition: attachment`.", content_type = "application/octet-stream", body = Vec<u8>),
        responses::Auth, responses::NotFound,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/attachments/{id}")]
async fn download(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    serve(&state, id.into_inner()).await
}

/// The attachment's bytes as a download, never rendered.
pub(crate) async fn serve(state: &AppState, id: String) -> Result<HttpResponse, ApiError> {
    let (blobs, name) = (state.blobs.clone(), id.clone());
    let bytes = web::block(move || blobs.get(&id))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("attachment with this id"))?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("content-disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(bytes))
}

/// A stored upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Pass this as an attachment's `id` in a reply.
    #[schema(example = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")]
    pub id: String,
    pub size: u64,
}

/// Upload a file to attach to a reply (the body is the file; at most `email_max_bytes`).
#[utoipa::path(
    tag = "attachments",
    operation_id = "uploadAttachment",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes."),
    responses(
        (status = 201, description = "Stored.", body = Uploaded),
        (status = 400, description = "Empty body (`bad_request`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `email_max_bytes` (`payload_too_large`).", body = crate::error::Problem, content_type = "application/problem+json"),
        responses::Auth,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/attachments")]
async fn upload(
    _req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !caller.is_connector() {
        caller.require(Scope::TicketsWrite)?;
    }
    let limit = state.email.max_bytes;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("cannot read the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, format!("the file is larger than {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "the body is empty; send the file's bytes"));
    }
    let blobs = state.blobs.clone();
    let blob = web::block(move || blobs.put(&bytes)).await.map_err(ApiError::internal)?.map_err(ApiError::internal)?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/attachments/{}", blob.sha256)))
        .json(Uploaded { id: blob.sha256, size: blob.size }))
}

/// Checks attachments named by id for a message (an agent's reply, a connector's message):
/// each uploaded, named like a file, typed `type/subtype`, and within the count and total
/// size limits. Returns them as the message's `details.attachments` lists them.
pub(crate) fn checked(state: &AppState, attachments: Vec<ReplyAttachment>) -> Result<Vec<serde_json::Value>, ApiError> {
    let limits = &state.limits;
    if attachments.len() > limits.reply_attachments {
        return Err(ApiError::over_limit("attachments", limits.reply_attachments));
    }
    let mut files = Vec::with_capacity(attachments.len());
    let mut total = 0;
    for attachment in attachments {
        let size = state.blobs.size(&attachment.id).ok_or_else(|| {
            ApiError::new(ErrorCode::ValidationFailed, format!("no attachment with id {}", attachment.id))
                .with_extra(serde_json::json!({ "field": "attachments" }))
        })?;
        let one_line = |v: &str| !v.trim().is_empty() && v.len() <= 255 && !v.chars().any(char::is_control);
        let clean = braid_core::text::clean_filename(&attachment.filename);
        if !one_line(&attachment.filename)
            || clean.as_deref() != Some(attachment.filename.as_str())
            || !one_line(&attachment.content_type)
            || !attachment.content_type.contains('/')
        {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "an attachment needs a file name (no path, control or direction characters) and a type/subtype content type",
            )
            .with_extra(serde_json::json!({ "field": "attachments" })));
        }
        total += size;
        if total > limits.reply_attachment_bytes {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("a message's attachments total at most {} bytes", limits.reply_attachment_bytes),
            )
            .with_extra(serde_json::json!({ "field": "attachments" })));
        }
        files.push(serde_json::json!({
            "id": attachment.id, "filename": attachment.filename, "content_type": attachment.content_type, "size": size,
        }));
    }
    Ok(files)
}
