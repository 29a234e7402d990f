//! `/v1/merge-suggestions`: identities a customer claimed that another customer holds.
//! Nothing merges on a claim; agents read the evidence and accept (a merge) or dismiss.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use braid_core::merge::Side;
use braid_core::{CustomerId, IdentityKind, Scope, SuggestionId};
use braid_db::customers::suggestions::{self, Suggestion, SuggestionState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::merges::MergeView;
use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SuggestionId,
    /// The customer who claimed the identity (the source if accepted).
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    /// The customer who holds it (the target if accepted).
    #[schema(value_type = String, format = Uuid)]
    pub other_customer_id: CustomerId,
    #[schema(value_type = String, example = "email")]
    pub kind: IdentityKind,
    pub value: String,
    /// How the claim was made: `claimed_by` (a trust source), `claimed_trust`,
    /// `holder_trust`, and what the channel adds.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// `open`, `accepted` or `dismissed`.
    #[schema(value_type = String)]
    pub state: SuggestionState,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    /// The merge that accepted it.
    pub merge_id: Option<String>,
}

impl From<Suggestion> for SuggestionView {
    fn from(s: Suggestion) -> Self {
        Self {
            id: s.id,
            customer_id: s.customer_id,
            other_customer_id: s.other_customer_id,
            kind: s.kind,
            value: s.value,
            evidence: s.evidence,
            state: s.state,
            created_at: s.created_at,
            decided_at: s.decided_at,
            decided_by: s.decided_by,
            merge_id: s.merge_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// `open` (default), `accepted` or `dismissed`.
    #[param(value_type = Option<String>)]
    pub state: Option<String>,
    /// Only suggestions naming this customer, on either side.
    #[param(value_type = Option<String>, format = Uuid)]
    pub customer_id: Option<CustomerId>,
}

fn parse_state(state: Option<&str>) -> Result<SuggestionState, ApiError> {
    match state.unwrap_or("open") {
        "open" => Ok(SuggestionState::Open),
        "accepted" => Ok(SuggestionState::Accepted),
        "dismissed" => Ok(SuggestionState::Dismissed),
        other => Err(ApiError::new(
            crate::ErrorCode::ValidationFailed,
            format!("`{other}` is not one of: open, accepted, dismissed"),
        )
        .with_extra(serde_json::json!({ "field": "state" }))),
    }
}

fn suggestion_not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("merge suggestion with this id"),
        other => other.into(),
    }
}

/// List merge suggestions, newest first.
#[utoipa::path(
    tag = "customers",
    operation_id = "listMergeSuggestions",
    params(SuggestionQuery, PageParams),
    responses((status = 200, description = "A page of suggestions.", body = Paged<SuggestionView>), responses::Auth, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/merge-suggestions")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<SuggestionQuery>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let wanted = parse_state(query.state.as_deref())?;
    let customer = query.customer_id;
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let page = state.db.run(move |conn| suggestions::list(conn, wanted, customer, cursor.as_ref(), limit)).await?;
    Ok(HttpResponse::Ok().json(Paged::from_page(page, SuggestionView::from)))
}

/// Get a merge suggestion.
#[utoipa::path(
    tag = "customers",
    operation_id = "getMergeSuggestion",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The suggestion.", body = SuggestionView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/merge-suggestions/{id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SuggestionId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let id = id.into_inner();
    let suggestion = state.db.run(move |conn| suggestions::get(conn, id)).await.map_err(suggestion_not_found)?;
    Ok(HttpResponse::Ok().json(SuggestionView::from(suggestion)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"choices": {"name": "source"}}))]
pub struct AcceptBody {
    /// As in a merge: the side whose value wins, per field.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub choices: BTreeMap<String, Side>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub suggestion: SuggestionView,
    pub merge: MergeView,
}

/// Accept a suggestion: the claiming customer merges into the holder.
///
/// Needs `customers:write` and `tickets:write`, as a merge does.
#[utoipa::path(
    tag = "customers",
    operation_id = "acceptMergeSuggestion",
    params(("id" = String, Path, format = Uuid)),
    request_body = AcceptBody,
    responses(
        (status = 200, description = "Accepted, with the merge it made.", body = Accepted),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "Decided already, or the merge is refused (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/merge-suggestions/{id}/accept")]
async fn accept(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SuggestionId>,
    body: web::Json<AcceptBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    caller.require(Scope::TicketsWrite)?;
    let (id, actor, choices) = (id.into_inner(), caller.key(), body.into_inner().choices);
    let (suggestion, record) =
        state.db.run(move |conn| suggestions::accept(conn, id, &actor, choices)).await.map_err(suggestion_not_found)?;
    Ok(HttpResponse::Ok()
        .json(Accepted { suggestion: suggestion.into(), merge: MergeView::new(record, state.merge_undo_window) }))
}

/// Dismiss a suggestion: the customers stay apart.
#[utoipa::path(
    tag = "customers",
    operation_id = "dismissMergeSuggestion",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Dismissed.", body = SuggestionView),
        responses::Auth, responses::NotFound,
        (status = 409, description = "Decided already (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/merge-suggestions/{id}/dismiss")]
async fn dismiss(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<SuggestionId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let (id, actor) = (id.into_inner(), caller.key());
    let suggestion =
        state.db.run(move |conn| suggestions::dismiss(conn, id, &actor)).await.map_err(suggestion_not_found)?;
    Ok(HttpResponse::Ok().json(SuggestionView::from(suggestion)))
}
