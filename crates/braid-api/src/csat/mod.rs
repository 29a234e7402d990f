//! Satisfaction surveys: the settings (admins), a ticket's surveys and ratings (agents),
//! and the public page a customer rates on (`page.rs`). Ratings are attributed to the
//! assignee and team the ticket had when it was solved.

pub mod page;

use actix_web::{HttpResponse, get, patch, web};
use braid_core::csat::{OnBadRating, Settings};
use braid_core::{AgentId, Scope, SurveyId, TeamId, TicketId};
use braid_db::csat::{self, Survey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::tickets::read_of_ticket;
use crate::{ApiError, AppState, Principal};

/// One survey: the solve it asks about, whether and when it went out, and the rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SurveyId,
    #[schema(value_type = String, format = Uuid)]
    pub ticket_id: TicketId,
    /// Which solve of the ticket: 1 for the first.
    pub cycle: i32,
    /// `scheduled`, `sent`, or `cancelled` (the ticket reopened before it went out).
    #[schema(example = "sent")]
    pub state: String,
    pub send_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Until then the customer can rate or change the rating; then it locks.
    pub expires_at: Option<DateTime<Utc>>,
    /// The survey message in the thread.
    #[schema(format = Uuid)]
    pub message_id: Option<String>,
    /// Whom the rating is about: the assignee when the ticket was solved.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<AgentId>,
    /// And the team then.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// `good` or `bad`; `null` until rated.
    #[schema(value_type = Option<String>, example = "good")]
    pub rating: Option<braid_core::csat::Rating>,
    pub comment: Option<String>,
    pub first_rated_at: Option<DateTime<Utc>>,
    pub rated_at: Option<DateTime<Utc>>,
    /// When a bad rating reopened the ticket or opened a follow-up.
    pub loop_closed_at: Option<DateTime<Utc>>,
    /// The follow-up ticket a bad rating opened.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub follow_up_ticket_id: Option<TicketId>,
}

impl From<Survey> for SurveyView {
    fn from(s: Survey) -> Self {
        Self {
            id: s.id,
            ticket_id: s.ticket_id,
            cycle: s.cycle,
            state: s.state,
            send_at: s.send_at,
            sent_at: s.sent_at,
            expires_at: s.expires_at,
            message_id: s.message_id,
            assignee_id: s.assignee_id,
            team_id: s.team_id,
            rating: s.rating,
            comment: s.comment,
            first_rated_at: s.first_rated_at,
            rated_at: s.rated_at,
            loop_closed_at: s.loop_closed_at,
            follow_up_ticket_id: s.follow_up_ticket_id,
        }
    }
}

/// A ticket's satisfaction: one survey per solve.
#[derive(Debug, Serialize, ToSchema)]
pub struct Satisfaction {
    /// The latest rating of any of its surveys.
    #[schema(value_type = Option<String>, example = "good")]
    pub rating: Option<braid_core::csat::Rating>,
    pub surveys: Vec<SurveyView>,
}

/// A ticket's satisfaction surveys and their ratings.
#[utoipa::path(
    tag = "csat",
    operation_id = "getTicketSatisfaction",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The ticket's surveys, oldest first.", body = Satisfaction), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/tickets/{id}/satisfaction")]
async fn of_ticket(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let surveys = read_of_ticket(&state, id, move |conn| csat::of_ticket(conn, id)).await?;
    let rating = surveys.iter().filter(|s| s.rated_at.is_some()).max_by_key(|s| s.rated_at).and_then(|s| s.rating);
    Ok(HttpResponse::Ok().json(Satisfaction { rating, surveys: surveys.into_iter().map(SurveyView::from).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CsatSettingsView {
    /// Off until an admin turns it on.
    pub enabled: bool,
    /// How long after a solve the survey goes out (0 to 10,080); a reopen before cancels it.
    pub delay_minutes: u32,
    /// How long the customer can rate or change the rating (1 to 30).
    pub window_days: u32,
    /// `reopen`, `follow_up` (a new ticket for the team) or `nothing`.
    #[schema(value_type = String, example = "follow_up")]
    pub on_bad_rating: OnBadRating,
    pub question: String,
}

impl From<Settings> for CsatSettingsView {
    fn from(s: Settings) -> Self {
        Self {
            enabled: s.enabled,
            delay_minutes: s.delay_minutes,
            window_days: s.window_days,
            on_bad_rating: s.on_bad_rating,
            question: s.question,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true, "delay_minutes": 60, "on_bad_rating": "reopen"}))]
pub struct CsatSettingsPatch {
    pub enabled: Option<bool>,
    #[schema(minimum = 0, maximum = 10080)]
    pub delay_minutes: Option<u32>,
    #[schema(minimum = 1, maximum = 30)]
    pub window_days: Option<u32>,
    #[schema(value_type = Option<String>, example = "reopen")]
    pub on_bad_rating: Option<OnBadRating>,
    pub question: Option<String>,
}

/// The satisfaction survey settings.
#[utoipa::path(
    tag = "csat",
    operation_id = "getCsatSettings",
    responses((status = 200, description = "The settings.", body = CsatSettingsView), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/csat/settings")]
async fn settings(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let settings = state.db.run(csat::settings).await?;
    Ok(HttpResponse::Ok().json(CsatSettingsView::from(settings)))
}

/// Change the survey settings. They apply to tickets solved from now on; surveys already
/// scheduled keep their time.
#[utoipa::path(
    tag = "csat",
    operation_id = "updateCsatSettings",
    request_body = CsatSettingsPatch,
    responses((status = 200, description = "The settings as changed.", body = CsatSettingsView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/csat/settings")]
async fn update_settings(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<CsatSettingsPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let changed = state
        .db
        .run(move |conn| {
            csat::change_settings(conn, |now| {
                Settings {
                    enabled: body.enabled.unwrap_or(now.enabled),
                    delay_minutes: body.delay_minutes.unwrap_or(now.delay_minutes),
                    window_days: body.window_days.unwrap_or(now.window_days),
                    on_bad_rating: body.on_bad_rating.unwrap_or(now.on_bad_rating),
                    question: body.question.unwrap_or(now.question),
                }
                .check()
                .map_err(|e| braid_db::DbError::Invalid { field: e.field.into(), message: e.message })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(CsatSettingsView::from(changed)))
}
