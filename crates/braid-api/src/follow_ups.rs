//! Follow-ups on a ticket: snooze it (out of the default list until a time, or the
//! customer's reply) and set reminders for agents (at a time, or in N business hours).
//! Teams' rules for pending tickets are set on the team (`PATCH /v1/teams/{id}`).

use actix_web::{HttpResponse, delete, get, post, web};
use braid_core::schedule::Basis;
use braid_core::{AgentId, ScheduleId, Scope, TicketId, follow_up};
use braid_db::follow_ups::{self, NewReminder, Reminder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::tickets::{read_of_ticket, ticket_not_found, with_etag};
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"until": "2026-12-03T09:00:00Z", "wake_on_reply": true}))]
pub struct SnoozeBody {
    /// In the future, at most a year ahead.
    pub until: DateTime<Utc>,
    /// The customer's next message wakes the ticket sooner; `true` when left out.
    pub wake_on_reply: Option<bool>,
}

/// Snooze a ticket: it leaves the default ticket list until `until` (or the customer's
/// reply) and comes back with `ticket.woke`. Snoozing again moves the time. A snooze pauses
/// no SLA clock (`pending` and `on_hold` do).
#[utoipa::path(
    tag = "tickets",
    operation_id = "snoozeTicket",
    params(("id" = String, Path, format = Uuid)),
    request_body = SnoozeBody,
    responses(
        (status = 200, description = "The ticket, snoozed.", body = crate::tickets::TicketView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The ticket is solved or closed (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/tickets/{id}/snooze")]
async fn snooze(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    body: web::Json<SnoozeBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let body = body.into_inner();
    let until = follow_up::future_time("until", body.until, braid_db::now())?;
    let (id, wake) = (id.into_inner(), body.wake_on_reply.unwrap_or(true));
    let ticket = state.db.run(move |conn| follow_ups::snooze(conn, id, until, wake)).await.map_err(ticket_not_found)?;
    Ok(with_etag(HttpResponse::Ok(), ticket))
}

/// Wake a snoozed ticket now (`ticket.woke`); a ticket not snoozed is answered as it is.
#[utoipa::path(
    tag = "tickets",
    operation_id = "unsnoozeTicket",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The ticket, awake.", body = crate::tickets::TicketView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[delete("/v1/tickets/{id}/snooze")]
async fn unsnooze(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let id = id.into_inner();
    let ticket = state.db.run(move |conn| follow_ups::unsnooze(conn, id)).await.map_err(ticket_not_found)?;
    Ok(with_etag(HttpResponse::Ok(), ticket))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReminderView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub ticket_id: TicketId,
    /// Whom it reminds.
    #[schema(value_type = String, format = Uuid)]
    pub agent_id: AgentId,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub created_by: Option<AgentId>,
    pub due_at: DateTime<Utc>,
    pub note: String,
    /// The customer's next message cancels it.
    pub cancel_on_reply: bool,
    /// `pending`, `fired` (`reminder.fired` told its agent) or `cancelled`.
    #[schema(example = "pending")]
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Reminder> for ReminderView {
    fn from(r: Reminder) -> Self {
        Self {
            id: r.id,
            ticket_id: r.ticket_id,
            agent_id: r.agent_id,
            created_by: r.created_by,
            due_at: r.due_at,
            note: r.note,
            cancel_on_reply: r.cancel_on_reply,
            state: r.state,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"in_business_hours": 4, "schedule_id": "0190f5c4-0000-7000-8000-000000000000", "note": "Call Ana back about the refund", "cancel_on_reply": true}))]
pub struct NewReminderBody {
    /// When, in the future (at most a year ahead). Or give `in_business_hours`.
    pub due_at: Option<DateTime<Utc>>,
    /// In this many working hours of `schedule_id` (1 to 2,000).
    #[schema(minimum = 1, maximum = 2000)]
    pub in_business_hours: Option<u32>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub schedule_id: Option<ScheduleId>,
    /// Whom it reminds: the calling agent when left out (an API key must name one).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub agent_id: Option<AgentId>,
    /// At most 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
    /// The customer's next message cancels it; `false` when left out.
    #[serde(default)]
    pub cancel_on_reply: bool,
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, format!("{field}: {message}"))
        .with_extra(serde_json::json!({ "field": field }))
}

/// Set a reminder on a ticket for an agent; it fires once, within seconds of its time, as
/// `reminder.fired` (on the stream, the feed and webhooks).
#[utoipa::path(
    tag = "tickets",
    operation_id = "createTicketReminder",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewReminderBody,
    responses(
        (status = 201, description = "Set.", body = ReminderView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The ticket is closed (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/tickets/{id}/reminders")]
async fn add_reminder(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    body: web::Json<NewReminderBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let body = body.into_inner();
    let agent = body.agent_id.or(caller.agent_id()).ok_or_else(|| invalid("agent_id", "name the agent to remind"))?;
    let note = follow_up::note(&body.note)?;
    let (ticket, created_by) = (id.into_inner(), caller.agent_id());
    let reminder = state
        .db
        .run(move |conn| {
            let now = braid_db::now();
            let due_at = match (body.due_at, body.in_business_hours, body.schedule_id) {
                (Some(at), None, None) => at,
                (None, Some(hours @ 1..=2000), Some(schedule)) => {
                    let calendar = braid_db::sla::schedules::calendar(conn, schedule)
                        .map_err(|e| match e {
                            braid_db::DbError::NotFound => braid_db::DbError::Invalid {
                                field: "schedule_id".into(),
                                message: "no schedule has this id".into(),
                            },
                            other => other,
                        })?
                        .ok_or_else(|| braid_db::DbError::Invalid {
                            field: "schedule_id".into(),
                            message: "no schedule has this id".into(),
                        })?;
                    Basis::Business(&calendar).add(now, chrono::Duration::hours(i64::from(hours))).ok_or_else(|| {
                        braid_db::DbError::Invalid {
                            field: "schedule_id".into(),
                            message: "the schedule has no working hours ahead".into(),
                        }
                    })?
                }
                _ => {
                    return Err(braid_db::DbError::Invalid {
                        field: "due_at".into(),
                        message: "give due_at, or in_business_hours (1 to 2000) with schedule_id".into(),
                    });
                }
            };
            let due_at =
                follow_up::future_time("due_at", due_at, now).map_err(|e| braid_db::DbError::invalid("due_at", e))?;
            let new = NewReminder { ticket, agent, created_by, due_at, note, cancel_on_reply: body.cancel_on_reply };
            follow_ups::add_reminder(conn, &new)
        })
        .await
        .map_err(ticket_not_found)?;
    Ok(HttpResponse::Created().json(ReminderView::from(reminder)))
}

/// A ticket's reminders, newest first (at most 200).
#[utoipa::path(
    tag = "tickets",
    operation_id = "listTicketReminders",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The reminders.", body = Vec<ReminderView>), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/tickets/{id}/reminders")]
async fn reminders(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let reminders = read_of_ticket(&state, id, move |conn| follow_ups::reminders_of(conn, id)).await?;
    Ok(HttpResponse::Ok().json(reminders.into_iter().map(ReminderView::from).collect::<Vec<_>>()))
}

/// Cancel a pending reminder (`reminder.cancelled`); one cancelled already is answered as
/// it is, one that fired is `409`.
#[utoipa::path(
    tag = "tickets",
    operation_id = "cancelTicketReminder",
    params(("id" = String, Path, format = Uuid), ("reminder_id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Cancelled.", body = ReminderView),
        responses::Auth, responses::NotFound,
        (status = 409, description = "It already fired (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[delete("/v1/tickets/{id}/reminders/{reminder_id}")]
async fn cancel_reminder(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<(TicketId, uuid::Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let (ticket, reminder) = path.into_inner();
    let reminder =
        state.db.run(move |conn| follow_ups::cancel_reminder(conn, ticket, &reminder.to_string())).await.map_err(
            |e| match e {
                braid_db::DbError::NotFound => ApiError::not_found("reminder on this ticket"),
                other => other.into(),
            },
        )?;
    Ok(HttpResponse::Ok().json(ReminderView::from(reminder)))
}
