//! `POST /v1/customers/{id}/merge` (with a `dry_run` preview), `GET /v1/merges/{id}` and
//! `POST /v1/merges/{id}/undo`: two customers become one, on the record, reversibly.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use braid_core::merge::{MergeReason, Side};
use braid_core::{CustomerId, MergeId, Scope};
use braid_db::customers::merges::{self, FieldChange, FieldPlan, MergePlan, MergeRecord, MergeRequest, Moved};
use braid_db::customers::undo::{self, undo_until};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::IdentityView;
use super::context::ContextTicket;
use crate::error::responses;
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source_customer_id": "0190f5c4-0000-7000-8000-000000000001", "dry_run": true, "choices": {"name": "source"}}))]
pub struct MergeBody {
    /// The customer merged into this one; it stays as a tombstone naming this customer.
    #[schema(value_type = String, format = Uuid)]
    pub source_customer_id: CustomerId,
    /// Only say what would happen: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// The side whose value wins, per field (`name`, `preferences.<name>`,
    /// `attributes.<key>`): `target` or `source`. Unnamed fields: the target's value wins
    /// and the source's fills a gap.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub choices: BTreeMap<String, Side>,
}

/// A field of both customers and how it comes out of the merge.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    #[schema(example = "name")]
    pub field: String,
    pub target: Option<serde_json::Value>,
    pub source: Option<serde_json::Value>,
    /// `target` or `source`.
    #[schema(value_type = String)]
    pub winner: Side,
    /// What the merged customer keeps.
    pub value: Option<serde_json::Value>,
    /// Both have a value and they differ.
    pub conflict: bool,
}

impl From<FieldPlan> for FieldView {
    fn from(f: FieldPlan) -> Self {
        Self {
            field: f.field,
            target: f.target,
            source: f.source,
            winner: f.winner,
            value: f.value,
            conflict: f.conflict,
        }
    }
}

/// What a merge would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergePreview {
    #[schema(value_type = String, format = Uuid)]
    pub target_id: CustomerId,
    #[schema(value_type = String, format = Uuid)]
    pub source_id: CustomerId,
    /// The source's identities, which would move.
    pub identities: Vec<IdentityView>,
    /// The source's tickets, which would move.
    pub tickets: Vec<ContextTicket>,
    /// How many messages of the source's thread would move.
    pub messages: i64,
    /// How many notes about the source would move.
    pub notes: i64,
    /// Every field either customer has, with the value that would win.
    pub fields: Vec<FieldView>,
}

impl From<MergePlan> for MergePreview {
    fn from(p: MergePlan) -> Self {
        Self {
            target_id: p.target_id,
            source_id: p.source_id,
            identities: p.identities.into_iter().map(IdentityView::from).collect(),
            tickets: p.tickets.into_iter().map(ContextTicket::from).collect(),
            messages: p.messages,
            notes: p.notes,
            fields: p.fields.into_iter().map(FieldView::from).collect(),
        }
    }
}

/// Ids of rows, by kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovedView {
    pub identities: Vec<String>,
    pub tickets: Vec<String>,
    pub messages: Vec<String>,
    pub notes: Vec<String>,
}

impl From<Moved> for MovedView {
    fn from(m: Moved) -> Self {
        Self { identities: m.identities, tickets: m.tickets, messages: m.messages, notes: m.notes }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeView {
    pub field: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl From<FieldChange> for FieldChangeView {
    fn from(c: FieldChange) -> Self {
        Self { field: c.field, before: c.before, after: c.after }
    }
}

/// What an undo did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UndoView {
    /// What went back to the source.
    pub returned: MovedView,
    /// Tickets that hold the customer's messages from both sides: they stay with the
    /// target; an agent should review them.
    pub review_tickets: Vec<String>,
    /// Fields changed again after the merge, which kept their later value.
    pub kept_fields: Vec<String>,
}

/// One merge, as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeView {
    #[schema(value_type = String, format = Uuid)]
    pub id: MergeId,
    #[schema(value_type = String, format = Uuid)]
    pub target_id: CustomerId,
    #[schema(value_type = String, format = Uuid)]
    pub source_id: CustomerId,
    /// Who merged: `agent:<id>`, `api_key:<id>` or `system`.
    pub actor: String,
    /// `agent`, `suggestion` or `verified_link`.
    #[schema(value_type = String)]
    pub reason: MergeReason,
    /// Exactly what moved from the source to the target.
    pub moved: MovedView,
    /// The target's fields the merge changed.
    pub fields: Vec<FieldChangeView>,
    pub created_at: DateTime<Utc>,
    /// Until when `POST /v1/merges/{id}/undo` is taken.
    pub undo_until: DateTime<Utc>,
    pub undone_at: Option<DateTime<Utc>>,
    pub undone_by: Option<String>,
    pub undo: Option<UndoView>,
}

impl MergeView {
    pub fn new(record: MergeRecord, window: chrono::Duration) -> Self {
        let undo_until = undo_until(&record, window);
        Self {
            id: record.id,
            target_id: record.target_id,
            source_id: record.source_id,
            actor: record.actor,
            reason: record.reason,
            moved: record.moved.into(),
            fields: record.fields.into_iter().map(FieldChangeView::from).collect(),
            created_at: record.created_at,
            undo_until,
            undone_at: record.undone_at,
            undone_by: record.undone_by,
            undo: record.undo.map(|u| UndoView {
                returned: u.returned.into(),
                review_tickets: u.review_tickets,
                kept_fields: u.kept_fields,
            }),
        }
    }
}

fn merge_not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("merge with this id"),
        other => other.into(),
    }
}

/// Merge another customer into this one, or preview it with `dry_run`.
///
/// Needs `customers:write` and `tickets:write` (a merge moves tickets and messages).
/// The source's identities, tickets, thread messages and notes move here in one
/// transaction; fields follow `choices` (default: this customer's value wins, the source's
/// fills a gap). The source stays as a tombstone: `GET` of it names this customer in
/// `merged_into`, lists and `identity=` look-ups never show it, and mail arriving later for
/// a moved identity lands in this customer's thread. Event `customer.merged`.
#[utoipa::path(
    tag = "customers",
    operation_id = "mergeCustomer",
    params(("id" = String, Path, format = Uuid, description = "The target: the customer that stays.")),
    request_body = MergeBody,
    responses(
        (status = 200, description = "`dry_run`: what the merge would do.", body = MergePreview),
        (status = 201, description = "Merged; `Location` is the merge record.", body = MergeView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "A customer was merged into another already (`customer_merged`, `extra.merged_into`), or the merge is refused (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/customers/{id}/merge")]
async fn merge(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    // A merge moves tickets and messages, and its preview lists them.
    caller.require(Scope::CustomersWrite)?;
    caller.require(Scope::TicketsWrite)?;
    let MergeBody { source_customer_id, dry_run, choices } = body.into_inner();
    let request = MergeRequest {
        target: id.into_inner(),
        source: source_customer_id,
        choices,
        actor: caller.key(),
        reason: MergeReason::Agent,
    };
    if request.target == request.source {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "a customer cannot be merged into itself")
            .with_extra(serde_json::json!({ "field": "source_customer_id" })));
    }
    let not_found = |e| match e {
        braid_db::DbError::NotFound => ApiError::not_found("customer with this id (target or source)"),
        other => other.into(),
    };
    if dry_run {
        let plan = state.db.run(move |conn| merges::preview(conn, &request)).await.map_err(not_found)?;
        return Ok(HttpResponse::Ok().json(MergePreview::from(plan)));
    }
    let record = state.db.run(move |conn| merges::merge(conn, &request)).await.map_err(not_found)?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/merges/{}", record.id)))
        .json(MergeView::new(record, state.merge_undo_window)))
}

/// A merge record: exactly what moved, the fields it changed, and its undo if any.
///
/// Needs `customers:read` and `tickets:read`.
#[utoipa::path(
    tag = "customers",
    operation_id = "getMerge",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The merge.", body = MergeView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/merges/{id}")]
async fn get_merge(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MergeId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let record = state.db.run(move |conn| merges::get(conn, id)).await.map_err(merge_not_found)?;
    Ok(HttpResponse::Ok().json(MergeView::new(record, state.merge_undo_window)))
}

/// Undo a merge (within `merge_undo_days`, 30 by default).
///
/// Needs `customers:write` and `tickets:write`.
/// What came from the source goes back to it. What arrived since follows its identity:
/// messages from the source's identities go back with them; a ticket that now holds
/// messages from both sides stays here and is listed in `undo.review_tickets`. A field
/// changed again since the merge keeps its later value (`undo.kept_fields`). When nothing
/// happened since, both customers are exactly as before. Event `customer.unmerged`.
#[utoipa::path(
    tag = "customers",
    operation_id = "undoMerge",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Undone; `undo` says what went back.", body = MergeView),
        responses::Auth, responses::NotFound,
        (status = 409, description = "Undone already, older than the undo window, or the target was merged into a third customer since (undo that first) (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/merges/{id}/undo")]
async fn undo_merge(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MergeId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    caller.require(Scope::TicketsWrite)?;
    let (id, actor, window) = (id.into_inner(), caller.key(), state.merge_undo_window);
    let record = state.db.run(move |conn| undo::undo(conn, id, &actor, window)).await.map_err(merge_not_found)?;
    Ok(HttpResponse::Ok().json(MergeView::new(record, window)))
}
