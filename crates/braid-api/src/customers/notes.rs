//! Notes about a customer over HTTP (`/v1/customers/{id}/notes`): what agents and
//! integrations want the next agent to know, apart from any ticket.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use braid_core::{AgentId, CustomerId, NoteBody, NoteId, Scope};
use braid_db::customers::notes::{self, Note};
use braid_db::{Cursor, Page};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::{ApiError, AppState, Principal};

/// A page of notes stops at about this many bytes of bodies: 200 notes of 10,000
/// four-byte characters would otherwise be 8 MB.
const PAGE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerNoteView {
    #[schema(value_type = String, format = Uuid)]
    pub id: NoteId,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    /// The agent who wrote it; `null` when an integration (an API key) did.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub author_agent_id: Option<AgentId>,
    #[schema(example = "Prefers phone calls after 5 pm.")]
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Note> for CustomerNoteView {
    fn from(n: Note) -> Self {
        Self {
            id: n.id,
            customer_id: n.customer_id,
            author_agent_id: n.author_agent_id,
            body: n.body,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Prefers phone calls after 5 pm."}))]
pub struct NewCustomerNote {
    /// 1 to 10,000 characters; newlines and tabs are the only control characters.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Prefers phone calls after 6 pm."}))]
pub struct CustomerNotePatch {
    /// Replaces the body: 1 to 10,000 characters.
    pub body: String,
}

fn note_not_found() -> ApiError {
    ApiError::not_found("note with this id on this customer")
}

/// A page of notes, cut short at [`PAGE_BYTES`] (the next page starts after the last note shown).
fn listed_page(page: Page<Note>) -> Paged<CustomerNoteView> {
    let total = page.items.len();
    let (mut data, mut bytes, mut next) = (Vec::with_capacity(total), 0, page.next);
    for note in page.items {
        let key = Cursor { at: note.created_at, id: note.id.to_string() };
        bytes += note.body.len();
        data.push(CustomerNoteView::from(note));
        if bytes >= PAGE_BYTES && data.len() < total {
            next = Some(key);
            break;
        }
    }
    Paged::new(data, next.as_ref())
}

/// Write a note about a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "createCustomerNote",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewCustomerNote,
    responses(
        (status = 201, description = "Stored. A customer has at most 1,000 notes (`422` past that).", body = CustomerNoteView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/customers/{id}/notes")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    body: web::Json<NewCustomerNote>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let body = NoteBody::parse(&body.into_inner().body)?;
    let (id, author) = (id.into_inner(), caller.agent_id());
    let note =
        state.db.run(move |conn| notes::create(conn, id, author, &body)).await.map_err(super::customer_not_found)?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/customers/{id}/notes/{}", note.id)))
        .json(CustomerNoteView::from(note)))
}

/// A customer's notes, newest first.
///
/// A page stops early, with a `next_cursor`, once its bodies pass about 1 MiB.
#[utoipa::path(
    tag = "customers",
    operation_id = "listCustomerNotes",
    params(("id" = String, Path, format = Uuid), PageParams),
    responses(
        (status = 200, description = "A page of the customer's notes, newest first.", body = Paged<CustomerNoteView>),
        responses::Auth, responses::NotFound, responses::BadQuery,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}/notes")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let (id, limit, cursor) = (id.into_inner(), page.limit()?, page.cursor()?);
    let page = state
        .db
        .run(move |conn| notes::list(conn, id, cursor.as_ref(), limit))
        .await
        .map_err(super::customer_not_found)?;
    Ok(HttpResponse::Ok().json(listed_page(page)))
}

/// Get one note about a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomerNote",
    params(("id" = String, Path, format = Uuid), ("note_id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The note.", body = CustomerNoteView),
        responses::Auth, responses::NotFound,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}/notes/{note_id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(CustomerId, NoteId)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    let (id, note) = path.into_inner();
    let note = state.db.run(move |conn| notes::get(conn, id, note)).await.map_err(super::customer_not_found)?;
    Ok(HttpResponse::Ok().json(CustomerNoteView::from(note.ok_or_else(note_not_found)?)))
}

/// Change a note's body.
#[utoipa::path(
    tag = "customers",
    operation_id = "updateCustomerNote",
    params(("id" = String, Path, format = Uuid), ("note_id" = String, Path, format = Uuid)),
    request_body = CustomerNotePatch,
    responses(
        (status = 200, description = "The note as changed.", body = CustomerNoteView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[patch("/v1/customers/{id}/notes/{note_id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(CustomerId, NoteId)>,
    body: web::Json<CustomerNotePatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let body = NoteBody::parse(&body.into_inner().body)?;
    let (id, note) = path.into_inner();
    let note =
        state.db.run(move |conn| notes::update(conn, id, note, &body)).await.map_err(super::customer_not_found)?;
    Ok(HttpResponse::Ok().json(CustomerNoteView::from(note.ok_or_else(note_not_found)?)))
}

/// Delete a note.
#[utoipa::path(
    tag = "customers",
    operation_id = "deleteCustomerNote",
    params(("id" = String, Path, format = Uuid), ("note_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted."),
        responses::Auth, responses::NotFound,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[delete("/v1/customers/{id}/notes/{note_id}")]
async fn delete(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(CustomerId, NoteId)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersWrite)?;
    let (id, note) = path.into_inner();
    let deleted = state.db.run(move |conn| notes::delete(conn, id, note)).await.map_err(super::customer_not_found)?;
    if !deleted {
        return Err(note_not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}
