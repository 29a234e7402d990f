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
use braid_channels::blobs::Blob;
use braid_channels::web_form::{CaptchaOutcome, Submission};
use braid_core::form::{self, SpamReason, Standard};
use braid_core::{Channel, CustomerName, EmailAddress};
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
        (Err(error), Some(url)) => {
            if error.code.status().is_server_error() {
                tracing::error!(code = error.code.as_str(), detail = %error.detail, cause = ?error.cause, "web form submission failed");
            }
            Ok(see_other(&with_error(url, &error)))
        }
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
    let mut submitted = read(request, payload, state.forms.max_bytes, state.forms.max_attachments).await?;

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
    // Counted only now: what the rules above refuse never spends the form's budget, so a
    // few bots cannot hold a form shut for everyone.
    state.forms.limits.admit(Limit::SubmissionsPerForm, &form.id.to_string()).await.map_err(too_many)?;
    let fields = Fields::checked(&submitted, form)?;

    // Files are named by their hashes now and written only once the submission passed.
    let files: Vec<(Blob, File)> =
        std::mem::take(&mut submitted.files).into_iter().map(|file| (Blob::of(&file.bytes), file)).collect();
    let attachments = files
        .iter()
        .map(|(blob, file)| {
            serde_json::json!({
                "id": blob.sha256, "filename": file.filename, "content_type": file.content_type, "size": blob.size,
            })
        })
        .collect();
    let mut submission = Submission {
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
        captcha: None,
        received_at: now,
    };

    // The same submission again (a double click, a retry after an error) is answered from
    // the first without asking the captcha provider, which takes an answer only once.
    let (channel_ref, digest) = braid_channels::web_form::reference(&submission);
    let before = state
        .db
        .run(move |conn| braid_db::messages::earlier_under(conn, Channel::WebForm, &channel_ref, &digest))
        .await?;
    let repeated = before.iter().any(|earlier| earlier.inbound && earlier.content_digest.is_some());
    if let (Some(captcha), false) = (&state.forms.captcha, repeated) {
        let answer = form::CAPTCHA_FIELDS.iter().find_map(|name| submitted.value(name).filter(|v| !v.is_empty()));
        let answer = answer.ok_or_else(|| spam(form, SpamReason::CaptchaMissing))?;
        if !form::captcha_answer_plausible(answer) {
            return Err(spam(form, SpamReason::CaptchaFailed));
        }
        submission.captcha = match captcha.check(answer, client).await {
            CaptchaOutcome::Passed => Some("passed"),
            CaptchaOutcome::Refused => return Err(spam(form, SpamReason::CaptchaFailed)),
            CaptchaOutcome::Unavailable(why) => {
                // A real submission is never lost to the provider's outage: kept, flagged.
                tracing::warn!(form = %form.id, %why, "captcha check unavailable; the submission is kept, flagged");
                Some("unavailable")
            }
        };
    }

    let blobs = state.blobs.clone();
    web::block(move || files.iter().try_for_each(|(blob, file)| blobs.write(blob, &file.bytes)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let inbound = braid_channels::web_form::inbound(submission);
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

/// The most a submission without files may weigh: a message of 20,000 characters and every
/// declared field at its longest fit many times over.
const TEXT_BODY_BYTES: usize = 256 * 1024;

/// Reads the body in the encoding it names: JSON and URL-encoded up to [`TEXT_BODY_BYTES`],
/// multipart up to `limit` raw bytes with at most `max_files` files; at most
/// [`form::MAX_SUBMITTED_FIELDS`] fields in all.
async fn read(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    max_files: usize,
) -> Result<Submitted, ApiError> {
    let too_many_fields = || ApiError::over_limit("fields", form::MAX_SUBMITTED_FIELDS);
    let mut submitted = Submitted::default();
    match essence(request).as_str() {
        "application/json" => {
            let body = read_limited(payload, TEXT_BODY_BYTES.min(limit)).await?;
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(ErrorCode::InvalidJson, format!("the body is not a JSON object of fields: {e}"))
            })?;
            if object.len() > form::MAX_SUBMITTED_FIELDS {
                return Err(too_many_fields());
            }
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
            let body = read_limited(payload, TEXT_BODY_BYTES.min(limit)).await?;
            for (name, value) in form_urlencoded::parse(&body) {
                if submitted.values.len() == form::MAX_SUBMITTED_FIELDS {
                    return Err(too_many_fields());
                }
                submitted.values.push((name.into_owned(), value.into_owned()));
            }
        }
        "multipart/form-data" => {
            // Every raw byte counts (part headers and boundaries too), so no part can grow
            // without end before its body starts.
            let overflowed = std::rc::Rc::new(std::cell::Cell::new(false));
            let counted = {
                let (overflowed, mut total) = (overflowed.clone(), 0usize);
                payload.into_inner().map(move |chunk| {
                    let chunk = chunk?;
                    total += chunk.len();
                    if total > limit {
                        overflowed.set(true);
                        return Err(actix_web::error::PayloadError::Overflow);
                    }
                    Ok(chunk)
                })
            };
            let too_large = || {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the submission is larger than the limit of {limit} bytes"),
                )
            };
            let failed =
                |error: actix_multipart::MultipartError| if overflowed.get() { too_large() } else { malformed(error) };
            let mut multipart = actix_multipart::Multipart::new(request.headers(), counted);
            let mut parts = 0;
            while let Some(part) = multipart.next().await {
                let mut part = part.map_err(failed)?;
                parts += 1;
                if parts > form::MAX_SUBMITTED_FIELDS {
                    return Err(too_many_fields());
                }
                let name = part.name().unwrap_or_default().to_owned();
                let filename = part.content_disposition().and_then(|d| {
                    d.get_filename()
                        .map(str::to_owned)
                        .or_else(|| d.get_filename_ext().map(|ext| String::from_utf8_lossy(&ext.value).into_owned()))
                });
                let content_type = part.content_type().map(|m| m.essence_str().to_owned());
                let mut bytes = web::BytesMut::new();
                while let Some(chunk) = part.next().await {
                    bytes.extend_from_slice(&chunk.map_err(failed)?);
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
                    None => submitted.values.push((name, text_of(&bytes))),
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
    Ok(submitted)
}

/// A multipart text field: browsers send it in the page's encoding, UTF-8 nearly always;
/// anything else is read as windows-1252, which is what browsers send for pages in Latin-1
/// (and every byte means something in it, so nothing is lost).
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned(),
    }
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
