//! `Idempotency-Key` on POST: the first response to a key is stored; the same key with
//! the same request replays it (`idempotent-replayed: true`), with another request it is
//! a 422. Keys are per caller, kept for `idempotency_ttl`. Server faults (5xx) are not
//! stored, so a retry after one runs again; neither are answers that carry a secret
//! (a new API key, a token pair), which must exist exactly once.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, ETAG, HeaderName, HeaderValue, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use braid_db::idempotency::{self, Reservation, StoredResponse};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState, ErrorCode, principal};

const HEADER: &str = "idempotency-key";

/// Put in a response's extensions by a handler whose answer carries a secret: it is never
/// stored for replay, and a retry runs again.
#[derive(Debug, Clone, Copy)]
pub struct NotReplayable;
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The headers a replay repeats: the body's type and what a client follows up with.
const REPLAYED_HEADERS: [HeaderName; 3] = [CONTENT_TYPE, LOCATION, ETAG];

pub(crate) async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(key) = (req.method() == Method::POST).then(|| req.headers().get(HEADER).cloned()).flatten() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(key) = key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255).map(str::to_owned) else {
        let error = ApiError::new(ErrorCode::BadRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return Ok(req.into_response(error.error_response()));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // An unauthenticated request is left to the handler, which answers 401.
    let Ok(caller) = principal::authenticate(&state, req.headers()).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };

    req.extensions_mut().insert(caller.clone());
    // The route's own limit: a file upload may be as large as an email, a JSON body not.
    let limit = if req.path() == "/v1/attachments" { state.email.max_bytes } else { state.limits.json_body_bytes };
    let (http, mut payload) = req.into_parts();
    let body = match read_body(&mut payload, limit).await {
        Ok(body) => body,
        Err(problem) => return Ok(ServiceResponse::new(http, problem.error_response())),
    };
    // The raw bytes, not a lossy decoding: two binary uploads differ wherever they differ.
    let mut fingerprint = format!("{} {}\n", http.method(), http.uri()).into_bytes();
    fingerprint.extend_from_slice(&body);
    let hash: String = Sha256::digest(&fingerprint).iter().map(|b| format!("{b:02x}")).collect();
    let principal = caller.key();

    let reservation = {
        let (principal, key, hash) = (principal.clone(), key.clone(), hash);
        state.db.run(move |conn| idempotency::reserve(conn, &principal, &key, &hash)).await
    };
    match reservation {
        Err(error) => Ok(ServiceResponse::new(http, ApiError::from(error).error_response())),
        Ok(Reservation::Replay(stored)) => Ok(ServiceResponse::new(http, replay(&stored))),
        Ok(Reservation::Mismatch) => {
            let error = ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request; use a new key",
            );
            Ok(ServiceResponse::new(http, error.error_response()))
        }
        Ok(Reservation::InFlight) => {
            let error = ApiError::new(ErrorCode::Conflict, "a request with this Idempotency-Key is still running");
            Ok(ServiceResponse::new(http, error.error_response()))
        }
        Ok(Reservation::Fresh) => {
            let req = ServiceRequest::from_parts(http, Payload::from(body));
            let response = next.call(req).await;
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    forget(&state, principal, key).await;
                    return Err(error);
                }
            };
            if response.response().extensions().get::<NotReplayable>().is_some() {
                forget(&state, principal, key).await;
                return Ok(response.map_into_boxed_body());
            }
            let (http, response) = response.into_parts();
            let status = response.status();
            let headers = response.headers().clone();
            let body = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
            if status.is_server_error() {
                forget(&state, principal, key).await;
            } else {
                let stored = StoredResponse {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                    headers: REPLAYED_HEADERS
                        .iter()
                        .filter_map(|name| header(&headers, name).map(|value| (name.as_str().to_owned(), value)))
                        .collect(),
                };
                let saved = state.db.run(move |conn| idempotency::complete(conn, &principal, &key, &stored)).await;
                if let Err(error) = saved {
                    tracing::error!(%error, "could not store an idempotent response");
                }
            }
            let mut rebuilt = HttpResponse::build(status);
            for (name, value) in &headers {
                rebuilt.insert_header((name.clone(), value.clone()));
            }
            Ok(ServiceResponse::new(http, rebuilt.body(body)))
        }
    }
}

/// Reads the body whole, refusing it as soon as it passes `limit`.
async fn read_body(payload: &mut Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than the limit of {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn forget(state: &AppState, principal: String, key: String) {
    if let Err(error) = state.db.run(move |conn| idempotency::release(conn, &principal, &key)).await {
        tracing::error!(%error, "could not release an idempotency key");
    }
}

fn header(headers: &actix_web::http::header::HeaderMap, name: &HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    for (name, value) in &stored.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.body(stored.body.clone())
}
