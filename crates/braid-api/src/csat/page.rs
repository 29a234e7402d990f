//! The public survey page, `/csat/v1/{token}`: what a customer opens from a survey link.
//! The token is the only credential: signed, naming one survey of one solve, refused
//! after its window. A link's `?rating=` is recorded by the page itself (a script posts
//! it), so mail scanners that fetch every link of a message rate nothing; the customer
//! can change the rating and add a comment until the window closes. A request carrying an
//! agent's credentials is refused: agents cannot rate their own work.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use braid_core::csat::{Claims, Rating, TokenError};
use braid_db::csat::{self, RateError, Survey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::rates::{Counters, address_key};
use crate::{ApiError, AppState, ErrorCode};

/// The largest body a rating takes.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// Uses per minute per client address (0 turns a limit off).
#[derive(Debug)]
pub struct CsatLimits(Counters);

impl CsatLimits {
    pub fn new(per_address: u32, redis: Option<redis::aio::ConnectionManager>) -> Self {
        Self(Counters::new("csat", &[per_address], redis))
    }

    async fn admit(&self, request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
        let address = address_key(crate::client::address(request, &state.auth.trusted_proxies));
        self.0.admit(0, &address).await.map_err(|seconds| {
            ApiError::new(ErrorCode::RateLimited, "too many survey requests from this address; slow down")
                .with_extra(serde_json::json!({ "retry_after": seconds }))
        })
    }
}

/// How survey links are checked, and how often an address may use them.
#[derive(Debug)]
pub struct CsatConfig {
    pub tokens: braid_core::csat::SurveyTokens,
    pub limits: CsatLimits,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `good` or `bad`: the rating the customer clicked in the message.
    #[param(value_type = Option<String>)]
    pub rating: Option<Rating>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": "bad", "comment": "Nobody answered my question."}))]
pub struct RatingBody {
    /// `good` or `bad`.
    #[schema(value_type = String, example = "good")]
    pub rating: Rating,
    /// Up to 2,000 characters; left out keeps the comment given before.
    pub comment: Option<String>,
}

/// What the customer sees of their survey.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatedView {
    #[schema(value_type = Option<String>, example = "good")]
    pub rating: Option<Rating>,
    pub comment: Option<String>,
    /// Until then the rating can change.
    pub changeable_until: Option<chrono::DateTime<chrono::Utc>>,
}

fn rated_view(survey: &Survey) -> RatedView {
    RatedView { rating: survey.rating, comment: survey.comment.clone(), changeable_until: survey.expires_at }
}

/// The link's claims and its open survey, or the answer for a bad or closed one.
async fn open(state: &AppState, request: &HttpRequest, token: &str) -> Result<(Claims, Survey), ApiError> {
    if request.headers().contains_key(header::AUTHORIZATION)
        && let Ok(crate::Principal::Agent { .. }) = crate::principal::authenticate(state, request.headers()).await
    {
        return Err(ApiError::new(ErrorCode::Forbidden, "agents cannot rate: only the customer's link can"));
    }
    let now = braid_db::now();
    let claims = state.csat.tokens.verify(token, now).map_err(token_error)?;
    let lookup = claims.clone();
    let survey = state.db.run(move |conn| Ok(csat::open_survey(conn, &lookup, now))).await?.map_err(rate_error)?;
    Ok((claims, survey))
}

fn token_error(error: TokenError) -> ApiError {
    match error {
        TokenError::Invalid => ApiError::not_found("survey with this link"),
        TokenError::Expired => ApiError::new(ErrorCode::SurveyClosed, error.to_string()),
    }
}

fn rate_error(error: RateError) -> ApiError {
    match error {
        RateError::Invalid => ApiError::not_found("survey with this link"),
        RateError::Locked => ApiError::new(ErrorCode::SurveyClosed, error.to_string()),
        RateError::Db(error) => error.into(),
    }
}

/// The survey page: the question, the two ratings, and a comment box. With `?rating=`
/// the page records that rating as it opens.
#[utoipa::path(
    tag = "csat",
    operation_id = "showSurvey",
    params(("token" = String, Path, description = "The survey link's token."), PageQuery),
    responses(
        (status = 200, description = "The page (HTML).", content_type = "text/html"),
        (status = 400, description = "A `rating` other than `good` or `bad` (`bad_request`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "An agent's credentials came with it (`forbidden`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No survey has this link (`not_found`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The survey closed; the rating is locked (`survey_closed`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address (`rate_limited`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/csat/v1/{token}")]
async fn show(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    state.csat.limits.admit(&request, &state).await?;
    let (_, survey) = open(&state, &request, &token).await?;
    let question = state.db.run(csat::settings).await?.question;
    Ok(page(&question, &survey, query.rating, None))
}

/// Rate, or change the rating, while the survey is open: a form post from the page
/// (`application/x-www-form-urlencoded`, answered with the page) or JSON (answered with
/// JSON). A first bad rating closes the loop as the settings say.
#[utoipa::path(
    tag = "csat",
    operation_id = "rateSurvey",
    params(("token" = String, Path, description = "The survey link's token.")),
    request_body(content = RatingBody, description = "JSON, or the same fields form-encoded."),
    responses(
        (status = 200, description = "Recorded.", body = RatedView),
        (status = 400, description = "A malformed body (`invalid_json`, `bad_request`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "An agent's credentials came with it (`forbidden`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No survey has this link (`not_found`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The survey closed; the rating is locked (`survey_closed`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 8 KiB (`payload_too_large`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form (`unsupported_media_type`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A comment over 2,000 characters (`validation_failed`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address (`rate_limited`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/csat/v1/{token}")]
async fn rate(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Counted and bounded before anything is read or parsed.
    state.csat.limits.admit(&request, &state).await?;
    let essence = match actix_web::HttpMessage::mime_type(&request) {
        Ok(Some(mime)) => mime.essence_str().to_ascii_lowercase(),
        _ => String::new(),
    };
    let form = match essence.as_str() {
        "application/x-www-form-urlencoded" => true,
        "application/json" => false,
        _ => return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send JSON or a form")),
    };
    let body = crate::email::read_limited(payload, MAX_BODY_BYTES).await?;
    let parsed: RatingBody = if form {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("the form is not a rating: {e}")))?
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?
    };
    let comment = match parsed.comment.as_deref() {
        // The page always posts its comment box: an empty one keeps what was written.
        Some(text) if form && text.trim().is_empty() => None,
        Some(text) => Some(braid_core::csat::comment(text)?),
        None => None,
    };
    let (claims, _) = open(&state, &request, &token).await?;
    let rating = parsed.rating;
    let now = braid_db::now();
    let rated =
        state.db.run(move |conn| Ok(csat::rate(conn, &claims, rating, comment, now))).await?.map_err(rate_error)?;
    if form {
        let question = state.db.run(csat::settings).await?.question;
        return Ok(page(&question, &rated, None, Some("Thank you! Your rating is recorded.")));
    }
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(rated_view(&rated)))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The page: self-contained (no outside requests), strict CSP, one nonce'd script that
/// records a clicked rating.
fn page(question: &str, survey: &Survey, clicked: Option<Rating>, notice: Option<&str>) -> HttpResponse {
    let nonce = crate::tokens::random_token();
    let chosen = clicked.or(survey.rating);
    let button = |rating: Rating, label: &str| {
        let pressed = if chosen == Some(rating) { " aria-pressed=\"true\" class=\"chosen\"" } else { "" };
        let value = rating.as_str();
        format!(r#"<button type="submit" id="{value}" name="rating" value="{value}"{pressed}>{label}</button>"#)
    };
    let record = match clicked {
        // A script, not the GET, records the click: link scanners fetch pages, they do not run them.
        Some(rating) if survey.rating != Some(rating) => format!(
            r#"<script nonce="{nonce}">document.getElementById("f").requestSubmit(document.getElementById("{}"));</script>"#,
            rating.as_str()
        ),
        _ => String::new(),
    };
    let status = match (notice, survey.rating) {
        (Some(notice), _) => format!("<p role=\"status\">{}</p>", escape(notice)),
        (None, Some(rating)) => format!("<p>Your rating: <strong>{}</strong>. You can change it.</p>", rating.as_str()),
        (None, None) => String::new(),
    };
    let until =
        survey.expires_at.map(|at| format!("<p class=\"small\">Open until {}.</p>", at.format("%Y-%m-%d %H:%M UTC")));
    let comment = escape(survey.comment.as_deref().unwrap_or_default());
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>How did we do?</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}button{{font-size:1.1rem;padding:.5rem 1rem;margin:0 .5rem .5rem 0;border:1px solid #888;border-radius:.4rem;background:#fff}}button.chosen{{background:#222;color:#fff}}textarea{{width:100%;min-height:6rem;font:inherit}}.small{{color:#666;font-size:.9rem}}</style></head><body><h1>{question}</h1>{status}<form id="f" method="post"><p>{good}{bad}</p><p><label for="c">Anything to add? (optional)</label><br><textarea id="c" name="comment" maxlength="2000">{comment}</textarea></p>{send}</form>{until}{record}</body></html>"#,
        question = escape(question),
        good = button(Rating::Good, "👍 Good"),
        bad = button(Rating::Bad, "👎 Bad"),
        // A comment goes with a rating: once one is chosen, it can be sent on its own.
        send = chosen.map_or(String::new(), |rating| format!(
            r#"<p><button type="submit" name="rating" value="{}">Send comment</button></p>"#,
            rating.as_str()
        )),
        until = until.unwrap_or_default(),
    );
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        ))
        .body(body)
}
