//! `POST /forms/v1/{form_key}`: a website's contact form is submitted.
//!
//! The body is JSON, URL-encoded or multipart (with files). Refused before anything is
//! stored: an unknown or disabled form (`404`), a page origin the form does not allow
//! (`403`), too many submissions from the address or to the form (`429`), a body over the
//! limit (`413`), spam (`422 spam_suspected`), fields that fail validation (`422`).
//! Accepted, the message is placed with the customer who holds the typed email, unverified,
//! and the answer says only that it was received.
//!
//! A browser posting a plain HTML form (it asks for `text/html`) is redirected to the
//! form's `redirect_url` (with `?error=<code>` when refused), or shown a short page when
//! the form has none; a script gets JSON, and problem+json when refused.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use braid_channels::web_form::{CaptchaOutcome, Submission};
use braid_core::form::{self, SpamReason, Standard};
use braid_core::{CustomerName, EmailAddress};
use braid_db::forms::Form;
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Limit, check_origin, form_of, too_many};
use crate::email::{essence, read_limited};
use crate::rates::address_key;
use crate::{ApiError, AppState, ErrorCode, tokens};

/// The fields a form takes, in any of the three encodings.
/// The standard fields may also be named as other form tools name them (`_replyto`,
/// `your-email`, `body`, …); the form's declared fields, its honeypot, and a captcha
/// widget's answer (`cf-turnstile-response`, `h-captcha-response`,
/// `g-recaptcha-response`) come along; anything else is ignored.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "Ana Lima", "email": "ana@example.org", "subject": "Order 1042", "message": "My order has not arrived.", "_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6Ims…"}))]
#[allow(dead_code)]
pub struct SubmissionBody {
    pub name: Option<String>,
    /// Required: the answer goes there. A claim: it proves nothing.
    pub email: String,
    pub subject: Option<String>,
    /// Required.
    pub message: String,
    /// From `GET /forms/v1/{form_key}/token`; required when the form has a fill time.
    #[schema(rename = "_token")]
    pub token: Option<String>,
    /// Files (multipart only), any field name.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub attachments: Option<Vec<Vec<u8>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// Always `received`: the answer says nothing of whom the message went to.
    #[schema(example = "received")]
    pub status: &'static str,
}

/// Submit a web form.
#[utoipa::path(
    tag = "forms",
    operation_id = "submitForm",
    params(("form_key" = String, Path, description = "The form's public key.")),
    request_body(content(
        (SubmissionBody = "application/json"),
        (SubmissionBody = "application/x-www-form-urlencoded"),
        (SubmissionBody = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Stored.", body = Received),
        (status = 200, description = "The same submission was stored before.", body = Received),
        (status = 303, description = "A plain HTML form's browser, sent to the form's `redirect_url` (with `?error=<code>` when refused)."),
        (status = 400, description = "A malformed body.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The page's origin is not allowed.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No enabled form has this key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over the size limit.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON, URL-encoded or multipart.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field failed validation (`validation_failed`, `extra.field`), or spam (`spam_suspected`, `extra.reason` when a person can fix it). Nothing was stored.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many submissions; see `Retry-After`.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/forms/v1/{form_key}")]
async fn submit(
    state: web::Data<AppState>,
    request: HttpRequest,
    form_key: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let html = wants_html(&request);
    // Counted before anything else, so a flood of posts to made-up keys costs no lookups.
    let client = crate::client::address(&request, &state.auth.trusted_proxies);
    state.forms.limits.admit(Limit::SubmissionsPerAddress, &address_key(client)).await.map_err(too_many)?;
    let form = form_of(&state, form_key.into_inner()).await?;
    let outcome = accept(&state, &request, &form, payload).await;
    let redirect = form.redirect_url.as_deref().filter(|_| html);
    match (outcome, redirect) {
        (Ok(_), Some(url)) => Ok(see_other(url)),
        (Err(error), Some(url)) => Ok(see_other(&with_error(url, &error))),
        (Ok(_), None) if html => Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(RECEIVED_PAGE)),
        (Ok(duplicate), None) => {
            let mut answer = if duplicate { HttpResponse::Ok() } else { HttpResponse::Created() };
            Ok(answer.json(Received { status: "received" }))
        }
        (Err(error), None) => Err(error),
    }
}

const RECEIVED_PAGE: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Message received</title><p>Thank you: your message was received. We will answer by email.</p></html>";

/// A browser posting a plain form asks for a page; a script's `fetch` asks for `*/*` or
/// JSON.
fn wants_html(request: &HttpRequest) -> bool {
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    accept.to_ascii_lowercase().contains("text/html")
}

fn see_other(url: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, url)).finish()
}

/// `url` with `error=<code>` (and `reason=` for spam a person can fix) added to its query.
fn with_error(url: &str, error: &ApiError) -> String {
    let (base, fragment) = url.split_once('#').map_or((url, None), |(b, f)| (b, Some(f)));
    let mut query = vec![("error", error.code.as_str())];
    if let Some(reason) = error.extra.as_ref().and_then(|e| e["reason"].as_str()) {
        query.push(("reason", reason));
    }
    let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
    let joiner = if base.contains('?') { '&' } else { '?' };
    match fragment {
        Some(fragment) => format!("{base}{joiner}{encoded}#{fragment}"),
        None => format!("{base}{joiner}{encoded}"),
    }
}

/// Checks, stores and places a submission; whether it was stored before.
async fn accept(state: &AppState, request: &HttpRequest, form: &Form, payload: web::Payload) -> Result<bool, ApiError> {
    let origin = check_origin(request, form)?;
    let client = crate::client::address(request, &state.auth.trusted_proxies);
    state.forms.limits.admit(Limit::SubmissionsPerForm, &form.id.to_string()).await.map_err(too_many)?;
    let submitted = read(request, payload, state.forms.max_bytes, state.forms.max_attachments).await?;

    // The spam rules, cheapest first; the captcha last, as its answer is good only once.
    if form::honeypot_filled(submitted.value(&form.honeypot)) {
        return Err(spam(form, SpamReason::Honeypot));
    }
    let now = braid_db::now();
    let token_id = match (submitted.value(form::TOKEN_FIELD).filter(|t| !t.is_empty()), form.min_fill_secs) {
        (None, 0) => None,
        (None, _) => return Err(spam(form, SpamReason::TokenMissing)),
        (Some(token), min) => {
            let (_, id, issued) = tokens::read_form_token(&state.auth.keys, token)
                .filter(|(token_form, _, _)| *token_form == form.id)
                .ok_or_else(|| spam(form, SpamReason::TokenInvalid))?;
            form::fill_time(issued, now, min).map_err(|reason| spam(form, reason))?;
            Some(id)
        }
    };
    let fields = Fields::checked(&submitted, form)?;
    let captcha = match &state.forms.captcha {
        None => None,
        Some(captcha) => {
            let answer = form::CAPTCHA_FIELDS.iter().find_map(|name| submitted.value(name).filter(|v| !v.is_empty()));
            let answer = answer.ok_or_else(|| spam(form, SpamReason::CaptchaMissing))?;
            match captcha.check(answer, client).await {
                CaptchaOutcome::Passed => Some("passed"),
                CaptchaOutcome::Refused => return Err(spam(form, SpamReason::CaptchaFailed)),
                CaptchaOutcome::Unavailable(why) => {
                    // A real submission is never lost to the provider's outage: kept, flagged.
                    tracing::warn!(form = %form.id, %why, "captcha provider unavailable; the submission is kept, flagged");
                    Some("unavailable")
                }
            }
        }
    };

    // Files are written before the message that names them commits.
    let blobs = state.blobs.clone();
    let files = submitted.files;
    let attachments = web::block(move || {
        files
            .into_iter()
            .map(|file| {
                let blob = blobs.put(&file.bytes)?;
                Ok(serde_json::json!({
                    "id": blob.sha256, "filename": file.filename, "content_type": file.content_type, "size": blob.size,
                }))
            })
            .collect::<std::io::Result<Vec<_>>>()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;

    let inbound = braid_channels::web_form::inbound(Submission {
        form: form.id,
        form_name: form.name.clone(),
        token_id,
        email: fields.email,
        name: fields.name,
        subject: fields.subject,
        message: fields.message,
        fields: fields.declared,
        attachments,
        origin,
        captcha,
        received_at: now,
    });
    let policy = state.placement;
    let placement = state.db.run(move |conn| braid_db::placement::place(conn, &inbound, &policy)).await?;
    tracing::info!(form = %form.id, message = %placement.message.id, duplicate = placement.duplicate, "web form placed");
    Ok(placement.duplicate)
}

fn spam(form: &Form, reason: SpamReason) -> ApiError {
    tracing::info!(form = %form.id, ?reason, "web form submission refused as spam");
    let error = ApiError::new(ErrorCode::SpamSuspected, "the submission looks automated and was not stored");
    match reason.shown() {
        Some(shown) => error.with_extra(serde_json::json!({ "reason": shown })),
        None => error,
    }
}

/// A submission's fields as sent: text values in order, and files.
#[derive(Debug, Default)]
struct Submitted {
    values: Vec<(String, String)>,
    files: Vec<File>,
}

#[derive(Debug)]
struct File {
    filename: String,
    content_type: String,
    bytes: web::Bytes,
}

impl Submitted {
    /// The first value sent under `name`.
    fn value(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first non-blank value of a standard field, by any of its names.
    fn standard(&self, which: Standard) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, v)| form::standard(n) == Some(which) && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// A submission's fields, checked.
struct Fields {
    email: EmailAddress,
    name: Option<CustomerName>,
    subject: Option<String>,
    message: String,
    declared: Vec<(String, String)>,
}

impl Fields {
    fn checked(submitted: &Submitted, form: &Form) -> Result<Self, ApiError> {
        let required = |field: &'static str| {
            ApiError::new(ErrorCode::ValidationFailed, format!("{field}: required"))
                .with_extra(serde_json::json!({ "field": field }))
        };
        let email = EmailAddress::parse(submitted.standard(Standard::Email).ok_or_else(|| required("email"))?.trim())?;
        let message = submitted.standard(Standard::Message).ok_or_else(|| required("message"))?;
        let message = braid_core::text::multiline("message", message, form::MAX_MESSAGE_CHARS)?;
        let name = submitted.standard(Standard::Name).map(CustomerName::parse).transpose()?.flatten();
        let subject = submitted.standard(Standard::Subject).and_then(form::subject);
        let mut declared = Vec::new();
        for field in &form.fields {
            let invalid = |detail: String| {
                ApiError::new(ErrorCode::ValidationFailed, format!("{}: {detail}", field.name))
                    .with_extra(serde_json::json!({ "field": field.name }))
            };
            match submitted.value(&field.name).filter(|v| !v.trim().is_empty()) {
                None if field.required => return Err(invalid("required".into())),
                None => {}
                Some(value) => {
                    let value = braid_core::text::multiline("value", value, form::MAX_FIELD_CHARS)
                        .map_err(|e| invalid(e.message.replacen("value", "the value", 1)))?;
                    declared.push((field.name.clone(), value));
                }
            }
        }
        Ok(Self { email, name, subject, message, declared })
    }
}

fn malformed(detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, format!("malformed form: {detail}"))
}

/// Reads the body in the encoding it names, at most `limit` bytes, `max_files` files and
/// [`form::MAX_SUBMITTED_FIELDS`] fields in all.
async fn read(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    max_files: usize,
) -> Result<Submitted, ApiError> {
    let mut submitted = Submitted::default();
    match essence(request).as_str() {
        "application/json" => {
            let body = read_limited(payload, limit).await?;
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(ErrorCode::InvalidJson, format!("the body is not a JSON object of fields: {e}"))
            })?;
            for (name, value) in object {
                let value = match value {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(text) => text,
                    serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
                    _ => {
                        return Err(ApiError::new(ErrorCode::ValidationFailed, format!("{name}: must be text"))
                            .with_extra(serde_json::json!({ "field": name })));
                    }
                };
                submitted.values.push((name, value));
            }
        }
        "application/x-www-form-urlencoded" => {
            let body = read_limited(payload, limit).await?;
            submitted.values = serde_urlencoded::from_bytes(&body).map_err(malformed)?;
        }
        "multipart/form-data" => {
            let mut multipart = actix_multipart::Multipart::new(request.headers(), payload.into_inner());
            let mut total = 0usize;
            while let Some(part) = multipart.next().await {
                let mut part = part.map_err(malformed)?;
                if submitted.values.len() + submitted.files.len() >= form::MAX_SUBMITTED_FIELDS {
                    return Err(ApiError::over_limit("fields", form::MAX_SUBMITTED_FIELDS));
                }
                let name = part.name().unwrap_or_default().to_owned();
                let filename = part.content_disposition().and_then(|d| d.get_filename()).map(str::to_owned);
                let content_type = part.content_type().map(|m| m.essence_str().to_owned());
                let mut bytes = web::BytesMut::new();
                while let Some(chunk) = part.next().await {
                    let chunk = chunk.map_err(malformed)?;
                    total += chunk.len();
                    if total > limit {
                        return Err(ApiError::new(
                            ErrorCode::PayloadTooLarge,
                            format!("the submission is larger than the limit of {limit} bytes"),
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                match filename {
                    // A file input left empty still sends a part, named "" and empty.
                    Some(filename) if filename.is_empty() && bytes.is_empty() => {}
                    Some(filename) => {
                        if submitted.files.len() >= max_files {
                            return Err(ApiError::over_limit("attachments", max_files));
                        }
                        submitted.files.push(File {
                            filename: braid_core::text::clean_filename(&filename)
                                .unwrap_or_else(|| "attachment".to_owned()),
                            content_type: content_type
                                .filter(|t| t.len() <= 255 && t.contains('/'))
                                .unwrap_or_else(|| "application/octet-stream".to_owned()),
                            bytes: bytes.freeze(),
                        });
                    }
                    None => {
                        let value = String::from_utf8(bytes.to_vec())
                            .map_err(|_| malformed(format!("the field `{name}` is not UTF-8 text")))?;
                        submitted.values.push((name, value));
                    }
                }
            }
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the form as application/json, application/x-www-form-urlencoded or multipart/form-data",
            ));
        }
    }
    if submitted.values.len() > form::MAX_SUBMITTED_FIELDS {
        return Err(ApiError::over_limit("fields", form::MAX_SUBMITTED_FIELDS));
    }
    Ok(submitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_added_to_the_redirects_query() {
        let spam = ApiError::new(ErrorCode::SpamSuspected, "x").with_extra(serde_json::json!({"reason": "too_fast"}));
        assert_eq!(
            with_error("https://shop.example/thanks", &spam),
            "https://shop.example/thanks?error=spam_suspected&reason=too_fast"
        );
        let limited = ApiError::new(ErrorCode::RateLimited, "x");
        assert_eq!(
            with_error("https://s.example/t?a=1#top", &limited),
            "https://s.example/t?a=1&error=rate_limited#top"
        );
    }
}
