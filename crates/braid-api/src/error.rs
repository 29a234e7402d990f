//! Errors as RFC 9457 `application/problem+json`. Every error a client can see has a
//! stable `code` from [`ErrorCode`], the one table of codes; the HTTP status follows from
//! the code. Server faults (5xx) are logged with their cause and answered generically,
//! so internals never leak into a response.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use braid_db::DbError;
use serde::Serialize;
use utoipa::ToSchema;

/// The stable, machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed in a way no more specific code covers.
    BadRequest,
    /// The body is not valid JSON or does not match the expected shape.
    InvalidJson,
    /// A value in the request failed validation.
    ValidationFailed,
    /// No valid credentials.
    Unauthorized,
    /// Valid credentials without the needed role or scope.
    Forbidden,
    /// The resource or route does not exist.
    NotFound,
    /// The request conflicts with existing data (a duplicate, a taken identity).
    Conflict,
    /// The customer was merged into another; `extra.merged_into` names the live one.
    CustomerMerged,
    /// A ticket status change the status machine does not allow.
    InvalidStatusTransition,
    /// A macro's placeholder has neither a value nor a default; `extra.unresolved` lists
    /// each with its action. Nothing was applied.
    UnresolvedPlaceholder,
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyKeyReused,
    /// `If-Match` named a stale version.
    PreconditionFailed,
    /// A feed cursor points into events the log no longer keeps; `extra.restart_cursor`
    /// says where the kept log starts (reload state, then follow from there).
    CursorExpired,
    /// A satisfaction survey's window closed: its rating is locked.
    SurveyClosed,
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// The body's content type is not one this route takes.
    UnsupportedMediaType,
    /// Too many requests; retry later.
    RateLimited,
    /// A public form's submission looks like spam (`extra.reason` says why when a person
    /// can fix it: `too_fast`, `token_missing`, `token_expired`, `token_invalid`,
    /// `captcha_missing`, `captcha_failed`). Nothing was stored.
    SpamSuspected,
    /// A dependency (the database, Redis) is not answering.
    Unavailable,
    /// Something failed on our side; the logs have the cause.
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::ValidationFailed
            | Self::InvalidStatusTransition
            | Self::UnresolvedPlaceholder
            | Self::IdempotencyKeyReused
            | Self::SpamSuspected => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict | Self::CustomerMerged => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::CursorExpired | Self::SurveyClosed => StatusCode::GONE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::ValidationFailed => "validation_failed",
            Self::InvalidStatusTransition => "invalid_status_transition",
            Self::UnresolvedPlaceholder => "unresolved_placeholder",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::CustomerMerged => "customer_merged",
            Self::PreconditionFailed => "precondition_failed",
            Self::CursorExpired => "cursor_expired",
            Self::SurveyClosed => "survey_closed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::SpamSuspected => "spam_suspected",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:braid:problem:not_found",
    "title": "Not Found",
    "status": 404,
    "detail": "no ticket with id 0190f5c4-0000-7000-8000-000000000000",
    "code": "not_found"
}))]
pub struct Problem {
    /// `urn:braid:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// Code-specific details, such as the id of a conflicting resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
}

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
#[error("{code:?}: {detail}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub extra: Option<serde_json::Value>,
    /// The underlying fault of a 5xx, logged and never sent.
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), extra: None, cause: None }
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// A list in the request (or what it would make) is longer than its cap: `422` naming
    /// the field.
    pub fn over_limit(field: &'static str, max: usize) -> Self {
        ApiError::new(ErrorCode::ValidationFailed, format!("at most {max} {field}"))
            .with_extra(serde_json::json!({ "field": field }))
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("no {what}"))
    }

    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            code: ErrorCode::Internal,
            detail: "an internal error occurred; it has been logged".into(),
            extra: None,
            cause: Some(Box::new(cause)),
        }
    }

    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            code: ErrorCode::Unavailable,
            detail: "a service Braid depends on is not answering; retry shortly".into(),
            extra: None,
            cause: Some(Box::new(cause)),
        }
    }
}

impl From<braid_core::InvalidValue> for ApiError {
    fn from(error: braid_core::InvalidValue) -> Self {
        ApiError::new(ErrorCode::ValidationFailed, error.to_string())
            .with_extra(serde_json::json!({ "field": error.field }))
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => ApiError::new(ErrorCode::NotFound, "not found"),
            DbError::Conflict(what) => ApiError::new(ErrorCode::Conflict, format!("already exists ({what})")),
            DbError::IdentityTaken { kind, value, customer, suggestion } => {
                let mut extra = serde_json::json!({ "customer_id": customer });
                if let Some(suggestion) = suggestion {
                    extra["suggestion_id"] = serde_json::json!(suggestion);
                }
                ApiError::new(ErrorCode::Conflict, format!("{kind} {value} already belongs to customer {customer}"))
                    .with_extra(extra)
            }
            DbError::MissingReference(what) => {
                ApiError::new(ErrorCode::ValidationFailed, format!("refers to something that does not exist ({what})"))
            }
            DbError::Merged { into } => ApiError::new(
                ErrorCode::CustomerMerged,
                format!("this customer was merged into {into}; use that customer"),
            )
            .with_extra(serde_json::json!({ "merged_into": into })),
            DbError::Refused(why) => ApiError::new(ErrorCode::Conflict, why),
            DbError::Moved => ApiError::new(
                ErrorCode::Conflict,
                "the customer was merged or unmerged while this request ran; send it again",
            ),
            DbError::LastAdmin => {
                ApiError::new(ErrorCode::Conflict, "this is the last active admin; promote another agent first")
            }
            DbError::OverLimit { field, max } => ApiError::over_limit(field, max),
            DbError::Invalid { field, message } => {
                ApiError::new(ErrorCode::ValidationFailed, format!("{field}: {message}"))
                    .with_extra(serde_json::json!({ "field": field }))
            }
            DbError::InUse { field, message } => ApiError::new(ErrorCode::Conflict, format!("{field}: {message}"))
                .with_extra(serde_json::json!({ "field": field })),
            DbError::TicketClosed => ApiError::new(ErrorCode::Conflict, "the ticket is closed; open a new one instead"),
            DbError::Pool(_) | DbError::Connect(_) => ApiError::unavailable(error),
            other => ApiError::internal(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            match &self.cause {
                Some(cause) => tracing::error!(code = self.code.as_str(), error = %cause, "request failed"),
                None => tracing::error!(code = self.code.as_str(), detail = %self.detail, "request failed"),
            }
        }
        let problem = Problem {
            kind: format!("urn:braid:problem:{}", self.code.as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            extra: self.extra.clone(),
        };
        let mut response = HttpResponse::build(status);
        // A rate limit says when to come back, in the header clients read.
        if let Some(seconds) = self.extra.as_ref().and_then(|extra| extra["retry_after"].as_u64()) {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
        }
        response.content_type(ContentType(mime_problem())).json_body(&problem)
    }
}

trait JsonBody {
    fn json_body(&mut self, problem: &Problem) -> HttpResponse;
}

impl JsonBody for actix_web::HttpResponseBuilder {
    fn json_body(&mut self, problem: &Problem) -> HttpResponse {
        // Serializing this struct cannot fail: every field is a plain value.
        self.body(serde_json::to_string(problem).unwrap_or_default())
    }
}

fn mime_problem() -> actix_web::mime::Mime {
    "application/problem+json".parse().unwrap_or(actix_web::mime::APPLICATION_JSON)
}

/// Turns actix's JSON extractor failures into problems a client can act on.
pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |error, _req| {
        use actix_web::error::JsonPayloadError as E;
        let api = match &error {
            E::OverflowKnownLength { length, limit } => {
                ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is {length} bytes; the limit is {limit}"))
            }
            E::Overflow { limit } => {
                ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than the limit of {limit} bytes"))
            }
            E::ContentType => ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json"),
            E::Deserialize(e) if e.is_data() => {
                ApiError::new(ErrorCode::InvalidJson, format!("the body does not match: {e}"))
            }
            E::Deserialize(e) => ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}")),
            other => ApiError::new(ErrorCode::BadRequest, other.to_string()),
        };
        api.into()
    })
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|error, _req| ApiError::new(ErrorCode::NotFound, format!("no such resource: {error}")).into())
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| {
        ApiError::new(ErrorCode::BadRequest, format!("invalid query string: {error}")).into()
    })
}

/// Answers any request no route matched.
pub(crate) async fn no_route(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, format!("no route for {} {}", req.method(), req.path())).error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_spelling_matching_its_json() {
        use ErrorCode::*;
        let all = [
            BadRequest,
            InvalidJson,
            ValidationFailed,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            CustomerMerged,
            InvalidStatusTransition,
            UnresolvedPlaceholder,
            IdempotencyKeyReused,
            PreconditionFailed,
            CursorExpired,
            SurveyClosed,
            PayloadTooLarge,
            UnsupportedMediaType,
            RateLimited,
            SpamSuspected,
            Unavailable,
            Internal,
        ];
        let mut seen = std::collections::HashSet::new();
        for code in all {
            assert!(seen.insert(code.as_str()), "{code:?} repeats");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        }
    }

    #[test]
    fn server_faults_never_show_their_cause() {
        let error = ApiError::internal(std::io::Error::other("password=hunter2 at db:5432"));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.detail.contains("hunter2"));
    }
}

/// Documented error answers, shared by the routes' OpenAPI descriptions.
pub mod responses {
    use utoipa::IntoResponses;

    use super::Problem;

    /// Answers of every route that needs credentials.
    #[derive(IntoResponses)]
    #[expect(dead_code, reason = "only read by the OpenAPI derive")]
    pub enum Auth {
        /// No valid credentials (`code: unauthorized`).
        #[response(status = 401, content_type = "application/problem+json")]
        Unauthorized(Problem),
        /// The credentials lack the needed role or scope (`code: forbidden`).
        #[response(status = 403, content_type = "application/problem+json")]
        Forbidden(Problem),
    }

    /// Answers of the widget's calls that need a visitor token.
    #[derive(IntoResponses)]
    #[expect(dead_code, reason = "only read by the OpenAPI derive")]
    pub enum VisitorAuth {
        /// No valid visitor token (`code: unauthorized`): start a new session.
        #[response(status = 401, content_type = "application/problem+json")]
        Unauthorized(Problem),
        /// The page's origin is not among the site's allowed origins (`code: forbidden`).
        #[response(status = 403, content_type = "application/problem+json")]
        Forbidden(Problem),
    }

    /// Answers of routes that take a body.
    #[derive(IntoResponses)]
    #[expect(dead_code, reason = "only read by the OpenAPI derive")]
    pub enum BadInput {
        /// Malformed JSON or a body of the wrong shape (`invalid_json`, `bad_request`).
        #[response(status = 400, content_type = "application/problem+json")]
        BadRequest(Problem),
        /// The body is over the size limit (`payload_too_large`).
        #[response(status = 413, content_type = "application/problem+json")]
        TooLarge(Problem),
        /// The body is not `application/json` (`unsupported_media_type`).
        #[response(status = 415, content_type = "application/problem+json")]
        UnsupportedMediaType(Problem),
        /// A value failed validation, or an `Idempotency-Key` was reused with another body
        /// (`validation_failed`, `idempotency_key_reused`).
        #[response(status = 422, content_type = "application/problem+json")]
        Unprocessable(Problem),
    }

    /// Answers of lists to a bad query string.
    #[derive(IntoResponses)]
    #[expect(dead_code, reason = "only read by the OpenAPI derive")]
    pub enum BadQuery {
        /// A malformed query string or cursor (`bad_request`).
        #[response(status = 400, content_type = "application/problem+json")]
        BadRequest(Problem),
        /// A filter value or `limit` out of range (`validation_failed`).
        #[response(status = 422, content_type = "application/problem+json")]
        Unprocessable(Problem),
    }

    /// The resource in the path does not exist.
    #[derive(IntoResponses)]
    #[expect(dead_code, reason = "only read by the OpenAPI derive")]
    pub enum NotFound {
        /// `code: not_found`.
        #[response(status = 404, content_type = "application/problem+json")]
        NotFound(Problem),
    }

    /// The request conflicts with existing data.
    #[derive(IntoResponses)]
    #[expect(dead_code, reason = "only read by the OpenAPI derive")]
    pub enum Conflict {
        /// `code: conflict`; `extra` names the conflicting resource where there is one.
        #[response(status = 409, content_type = "application/problem+json")]
        Conflict(Problem),
    }
}
