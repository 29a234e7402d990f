//! `GET /v1/customers/{id}/context`: everything an agent reads before answering, in one
//! call.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use braid_core::{CustomerId, Scope};
use braid_db::customers::context::{self, Context, TicketLine};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::attributes::CustomerAttributeView;
use super::notes::CustomerNoteView;
use super::preferences::PreferencesView;
use super::{CustomerView, customer_not_found};
use crate::error::responses;
use crate::{ApiError, AppState, ErrorCode, Principal};

/// Latest tickets listed by default, and at most.
const RECENT_DEFAULT: i64 = 10;
const RECENT_MAX: i64 = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContextTicket {
    #[schema(value_type = String, format = Uuid)]
    pub id: braid_core::TicketId,
    #[schema(value_type = i64)]
    pub number: braid_core::TicketNumber,
    pub subject: String,
    #[schema(value_type = String)]
    pub status: braid_core::TicketStatus,
    #[schema(value_type = String)]
    pub priority: braid_core::Priority,
    /// The channel it started on.
    #[schema(value_type = String)]
    pub channel: braid_core::Channel,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<braid_core::AgentId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TicketLine> for ContextTicket {
    fn from(t: TicketLine) -> Self {
        Self {
            id: t.id,
            number: t.number,
            subject: t.subject,
            status: t.status,
            priority: t.priority,
            channel: t.channel,
            assignee_id: t.assignee_id,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerContext {
    /// The customer with every identity and its trust.
    pub customer: CustomerView,
    pub attributes: Vec<CustomerAttributeView>,
    pub preferences: PreferencesView,
    /// The newest notes about the customer (at most 5; `/notes` has them all).
    pub notes: Vec<CustomerNoteView>,
    /// Open, pending and on-hold tickets, most recently active first (at most 50).
    pub open_tickets: Vec<ContextTicket>,
    /// The latest tickets on every channel, newest first.
    pub recent_tickets: Vec<ContextTicket>,
    /// Their first message on any channel (or when they were added, with none).
    pub first_contact_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    /// Tickets by the channel they started on.
    #[schema(example = json!({"email": 12, "chat": 3}))]
    pub tickets_by_channel: BTreeMap<String, i64>,
    pub tickets_total: i64,
    /// Their latest satisfaction ratings, newest first (at most 5).
    pub ratings: Vec<crate::csat::SurveyView>,
}

impl From<Context> for CustomerContext {
    fn from(c: Context) -> Self {
        Self {
            customer: c.customer.into(),
            attributes: c.attributes.into_iter().map(CustomerAttributeView::from).collect(),
            preferences: c.preferences.into(),
            notes: c.notes.into_iter().map(CustomerNoteView::from).collect(),
            open_tickets: c.open_tickets.into_iter().map(ContextTicket::from).collect(),
            recent_tickets: c.recent_tickets.into_iter().map(ContextTicket::from).collect(),
            first_contact_at: c.first_contact_at,
            last_message_at: c.last_message_at,
            tickets_by_channel: c.tickets_by_channel,
            tickets_total: c.tickets_total,
            ratings: vec![],
        }
    }
}

/// Ratings the context shows.
const RATINGS: i64 = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContextQuery {
    /// How many of the latest tickets to list: 1 to 50, 10 by default.
    #[param(minimum = 1, maximum = 50)]
    pub recent: Option<i64>,
}

/// Everything an agent needs before answering, in one call: identities with trust,
/// attributes, preferences, the newest notes, open tickets, the latest tickets on every
/// channel, first contact, tickets by channel, and the latest satisfaction ratings.
///
/// Needs `customers:read` and `tickets:read`.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomerContext",
    params(("id" = String, Path, format = Uuid), ContextQuery),
    responses((status = 200, description = "The customer's context.", body = CustomerContext), responses::Auth, responses::NotFound, responses::BadQuery,
        (status = 409, description = "The customer was merged into another (`customer_merged`, `extra.merged_into`).", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])),
)]
#[get("/v1/customers/{id}/context")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<CustomerId>,
    query: web::Query<ContextQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::CustomersRead)?;
    caller.require(Scope::TicketsRead)?;
    let recent = query.recent.unwrap_or(RECENT_DEFAULT);
    if !(1..=RECENT_MAX).contains(&recent) {
        return Err(ApiError::new(ErrorCode::ValidationFailed, format!("recent is 1 to {RECENT_MAX}"))
            .with_extra(serde_json::json!({ "field": "recent" })));
    }
    let id = id.into_inner();
    let (found, ratings) = state
        .db
        .run(move |conn| {
            let found = context::of(conn, id, recent)?;
            let ratings = braid_db::csat::rated_of_customer(conn, id, RATINGS)?;
            Ok((found, ratings))
        })
        .await
        .map_err(customer_not_found)?;
    let mut shown = CustomerContext::from(found);
    shown.ratings = ratings.into_iter().map(crate::csat::SurveyView::from).collect();
    Ok(HttpResponse::Ok().json(shown))
}
