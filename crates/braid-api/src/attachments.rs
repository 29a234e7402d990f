//! `GET /v1/attachments/{id}`: the bytes of an attachment (or a raw message) by the id a
//! message's `details` names, its SHA-256. Always served as a download, never rendered,
//! so a hostile file cannot run in the agent's browser.

use actix_web::{HttpResponse, get, web};
use braid_core::Scope;

use crate::error::responses;
use crate::{ApiError, AppState, Principal};

/// Download an attachment.
#[utoipa::path(
    tag = "tickets",
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
    let (blobs, id) = (state.blobs.clone(), id.into_inner());
    let name = id.clone();
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
