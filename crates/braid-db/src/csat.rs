//! Satisfaction surveys: scheduled when a ticket is solved (one per solve), cancelled by a
//! reopen before they go out, sent by the timers on the ticket's own channel, and rated
//! through a signed link until their window closes. A bad rating closes the loop once:
//! it reopens the ticket or opens a follow-up, as the settings say.

use braid_core::csat::{Claims, OnBadRating, Rating, Settings, SurveyTokens};
use braid_core::{AgentId, EventKind, Priority, Subject, SurveyId, TeamId, TicketId, TicketStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::due_jobs::{self, Due};
use crate::events::{self, NewEvent};
use crate::schema::{surveys, ticket_statuses, tickets};
use crate::tickets::{Ticket, TicketChanges};
use crate::{DbConn, DbError, dialect, from_db, to_db};

/// The timer that sends a survey; its subject is the survey's id.
pub const SURVEY: &str = "survey";
const SETTINGS: &str = "csat";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Survey {
    pub id: SurveyId,
    pub ticket_id: TicketId,
    pub cycle: i32,
    /// `scheduled`, `sent` or `cancelled`.
    pub state: String,
    pub send_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Until then the rating can be given or changed.
    pub expires_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    /// The assignee and team when the ticket was solved: whom the rating is about.
    pub assignee_id: Option<AgentId>,
    pub team_id: Option<TeamId>,
    pub rating: Option<Rating>,
    pub comment: Option<String>,
    pub first_rated_at: Option<DateTime<Utc>>,
    pub rated_at: Option<DateTime<Utc>>,
    pub loop_closed_at: Option<DateTime<Utc>>,
    pub follow_up_ticket_id: Option<TicketId>,
    #[serde(skip)]
    pub customer_id: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = surveys)]
struct Row {
    id: String,
    ticket_id: String,
    customer_id: String,
    cycle: i32,
    state: String,
    send_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
    expires_at: Option<NaiveDateTime>,
    message_id: Option<String>,
    assignee_id: Option<String>,
    team_id: Option<String>,
    rating: Option<String>,
    comment: Option<String>,
    first_rated_at: Option<NaiveDateTime>,
    rated_at: Option<NaiveDateTime>,
    loop_closed_at: Option<NaiveDateTime>,
    follow_up_ticket_id: Option<String>,
}

impl TryFrom<Row> for Survey {
    type Error = DbError;

    fn try_from(row: Row) -> Result<Self, DbError> {
        Ok(Survey {
            id: row.id.parse()?,
            ticket_id: row.ticket_id.parse()?,
            cycle: row.cycle,
            state: row.state,
            send_at: from_db(row.send_at),
            sent_at: row.sent_at.map(from_db),
            expires_at: row.expires_at.map(from_db),
            message_id: row.message_id,
            assignee_id: row.assignee_id.map(|id| id.parse()).transpose()?,
            team_id: row.team_id.map(|id| id.parse()).transpose()?,
            rating: row.rating.map(|r| r.parse()).transpose()?,
            comment: row.comment,
            first_rated_at: row.first_rated_at.map(from_db),
            rated_at: row.rated_at.map(from_db),
            loop_closed_at: row.loop_closed_at.map(from_db),
            follow_up_ticket_id: row.follow_up_ticket_id.map(|id| id.parse()).transpose()?,
            customer_id: row.customer_id,
        })
    }
}

fn get(conn: &mut DbConn, id: SurveyId) -> Result<Survey, DbError> {
    surveys::table.find(id.to_string()).select(Row::as_select()).first(conn)?.try_into()
}

/// The settings, or their defaults (surveys off) until an admin sets them.
pub fn settings(conn: &mut DbConn) -> Result<Settings, DbError> {
    crate::settings::get(conn, SETTINGS)
}

/// Changes the settings (see `settings::change`).
pub fn change_settings(
    conn: &mut DbConn,
    change: impl FnOnce(Settings) -> Result<Settings, DbError>,
) -> Result<Settings, DbError> {
    crate::settings::change(conn, SETTINGS, EventKind::CsatSettingsUpdated, |_, now| change(now))
}

/// A ticket's status changed (inside its writer's transaction, under its lock): a solve
/// schedules the survey of this solve; a reopen cancels one not yet sent.
pub(crate) fn on_status_change(
    conn: &mut DbConn,
    before: TicketStatus,
    after: &Ticket,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let id = after.id.to_string();
    if after.status == TicketStatus::Solved && before.is_unsolved() {
        let settings = settings(conn)?;
        if !settings.enabled {
            return Ok(());
        }
        let solves: i64 = ticket_statuses::table
            .filter(ticket_statuses::ticket_id.eq(&id))
            .filter(ticket_statuses::status.eq(TicketStatus::Solved.as_str()))
            .count()
            .get_result(conn)?;
        let (survey, send_at) = (SurveyId::new(), now + chrono::Duration::minutes(settings.delay_minutes.into()));
        diesel::insert_into(surveys::table)
            .values((
                surveys::id.eq(survey.to_string()),
                surveys::ticket_id.eq(&id),
                surveys::customer_id.eq(after.customer_id.to_string()),
                surveys::cycle.eq(i32::try_from(solves.max(1)).unwrap_or(i32::MAX)),
                surveys::state.eq("scheduled"),
                surveys::send_at.eq(to_db(send_at)),
                surveys::assignee_id.eq(after.assignee_id.map(|a| a.to_string())),
                surveys::team_id.eq(after.team_id.map(|t| t.to_string())),
                surveys::created_at.eq(to_db(now)),
                surveys::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        due_jobs::schedule(conn, SURVEY, &survey.to_string(), Some(send_at))?;
    } else if before == TicketStatus::Solved && after.status.is_unsolved() {
        let waiting: Vec<String> = surveys::table
            .filter(surveys::ticket_id.eq(&id))
            .filter(surveys::state.eq("scheduled"))
            .select(surveys::id)
            .load(conn)?;
        for survey in waiting {
            diesel::update(surveys::table.find(&survey))
                .set((surveys::state.eq("cancelled"), surveys::updated_at.eq(to_db(now))))
                .execute(conn)?;
            due_jobs::schedule(conn, SURVEY, &survey, None)?;
        }
    }
    Ok(())
}

/// Where links point and how they are signed.
#[derive(Debug, Clone)]
pub struct Links {
    pub tokens: SurveyTokens,
    /// The public base URL (`https://help.example.com`), without a trailing slash.
    pub base_url: String,
}

/// Sends a due survey on the ticket's channel: once, under the ticket's lock, and only
/// while the ticket is still solved (or closed) in the cycle it was made for.
pub fn fire(conn: &mut DbConn, job: &Due, links: &Links, now: DateTime<Utc>) -> Result<&'static str, DbError> {
    dialect::write_transaction(conn, |conn| {
        due_jobs::schedule(conn, SURVEY, &job.subject, None)?;
        let Ok(id) = job.subject.parse::<SurveyId>() else { return Ok("nothing") };
        let survey = match get(conn, id) {
            Err(DbError::NotFound) => return Ok("nothing"),
            other => other?,
        };
        let ticket = crate::tickets::get(conn, survey.ticket_id)?;
        let ticket_customer = ticket.customer_id;
        let thread = crate::customers::thread_of(conn, ticket.customer_id)?;
        crate::customers::lock_thread(conn, thread)?;
        let survey = get(conn, id)?;
        let ticket = crate::tickets::get(conn, survey.ticket_id)?;
        if ticket.customer_id != ticket_customer {
            // A merge's undo moved the ticket while we waited: the next round retries.
            return Err(DbError::Moved);
        }
        if survey.state != "scheduled" || ticket.status.is_unsolved() {
            return Ok("nothing");
        }
        let settings = settings(conn)?;
        // Turned off since, or closed meanwhile (a closed ticket takes no more messages):
        // this survey will not go out.
        if !settings.enabled || ticket.status == TicketStatus::Closed {
            diesel::update(surveys::table.find(id.to_string()))
                .set((surveys::state.eq("cancelled"), surveys::updated_at.eq(to_db(now))))
                .execute(conn)?;
            return Ok("survey cancelled");
        }
        let expires_at = now + chrono::Duration::days(settings.window_days.into());
        let claims = Claims {
            survey: id,
            ticket: ticket.id,
            customer: survey.customer_id.parse()?,
            cycle: survey.cycle,
            expires: expires_at.timestamp(),
        };
        let link = format!("{}/csat/v1/{}", links.base_url, links.tokens.sign(&claims));
        let (channel, route) = crate::messages::default_route(conn, ticket.id, ticket.channel)?;
        let mut details = serde_json::json!({ "automated": "csat_survey", "survey_id": id });
        if let (Some(route), Some(map)) = (route, details.as_object_mut()) {
            map.insert("route".into(), route);
        }
        let message = crate::messages::AgentMessage {
            ticket: ticket.id,
            customer: ticket.customer_id,
            thread,
            author_agent_id: None,
            text: braid_core::csat::message_text(&settings.question, &link),
            details,
        };
        let (stored, event) = crate::messages::queue_reply_in(conn, message, channel, now)?;
        diesel::update(surveys::table.find(id.to_string()))
            .set((
                surveys::state.eq("sent"),
                surveys::sent_at.eq(to_db(now)),
                surveys::expires_at.eq(to_db(expires_at)),
                surveys::message_id.eq(stored.id.to_string()),
                surveys::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        let sent = get(conn, id)?;
        let record =
            NewEvent::new(EventKind::SurveySent, id, &sent, now)?.customer(ticket.customer_id).ticket(ticket.id);
        events::append(conn, vec![event, record])?;
        Ok("survey sent")
    })
}

/// Why a rating was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RateError {
    /// The link names no survey that was sent for this ticket, customer and solve.
    #[error("this survey link is not valid")]
    Invalid,
    /// The window closed: the rating stays as it was.
    #[error("this survey has closed; the rating can no longer change")]
    Locked,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RateError {
    fn from(error: diesel::result::Error) -> Self {
        RateError::Db(error.into())
    }
}

/// The survey a verified link names, while it is open to ratings.
pub fn open_survey(conn: &mut DbConn, claims: &Claims, now: DateTime<Utc>) -> Result<Survey, RateError> {
    let survey = match get(conn, claims.survey) {
        Err(DbError::NotFound) => return Err(RateError::Invalid),
        other => other?,
    };
    let matches = survey.ticket_id == claims.ticket
        && survey.customer_id == claims.customer.to_string()
        && survey.cycle == claims.cycle
        && survey.state == "sent";
    if !matches {
        return Err(RateError::Invalid);
    }
    if survey.expires_at.is_none_or(|expires| expires <= now) {
        return Err(RateError::Locked);
    }
    Ok(survey)
}

/// Records (or changes) a rating and its comment (`None`: the comment stays as it is).
/// The first bad rating of a survey closes the loop as the settings say.
pub fn rate(
    conn: &mut DbConn,
    claims: &Claims,
    rating: Rating,
    comment: Option<Option<String>>,
    now: DateTime<Utc>,
) -> Result<Survey, RateError> {
    dialect::write_transaction(conn, |conn| {
        let found = open_survey(conn, claims, now)?;
        let ticket = crate::tickets::get(conn, found.ticket_id)?;
        let thread = crate::customers::thread_of(conn, ticket.customer_id)?;
        crate::customers::lock_thread(conn, thread)?;
        let found = open_survey(conn, claims, now)?;
        let comment = comment.unwrap_or(found.comment.clone());
        diesel::update(surveys::table.find(found.id.to_string()))
            .set((
                surveys::rating.eq(rating.as_str()),
                surveys::comment.eq(&comment),
                surveys::first_rated_at.eq(to_db(found.first_rated_at.unwrap_or(now))),
                surveys::rated_at.eq(to_db(now)),
                surveys::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        let rated = get(conn, found.id)?;
        let record = NewEvent::new(EventKind::SurveyRated, rated.id, &rated, now)?
            .customer(ticket.customer_id)
            .ticket(ticket.id);
        // The rating first, then what it set off.
        events::append(conn, vec![record])?;
        if rating == Rating::Bad && found.loop_closed_at.is_none() {
            close_loop(conn, &found, comment.as_deref(), now)?;
        } else if found.loop_closed_at.is_some()
            && let Some(added) = comment.as_deref().filter(|c| Some(*c) != found.comment.as_deref())
        {
            // The comment came after the loop closed (the click records before the
            // customer types): the team reads it where they work on the complaint.
            let target = match found.follow_up_ticket_id {
                Some(follow_up) => crate::tickets::get(conn, follow_up)?,
                None => ticket.clone(),
            };
            if target.status != TicketStatus::Closed {
                note(conn, &target, &format!("The customer added to their rating:\n\n{added}"), now)?;
            }
        }
        Ok(get(conn, found.id)?)
    })
}

/// A bad rating: reopen the ticket, or open a follow-up for its team, with the comment.
fn close_loop(conn: &mut DbConn, survey: &Survey, comment: Option<&str>, now: DateTime<Utc>) -> Result<(), DbError> {
    let settings = settings(conn)?;
    let ticket = crate::tickets::get(conn, survey.ticket_id)?;
    let said = match comment {
        Some(comment) => format!("The customer rated the support bad and wrote:\n\n{comment}"),
        None => "The customer rated the support bad, without a comment.".to_owned(),
    };
    let action = match (settings.on_bad_rating, ticket.status) {
        (OnBadRating::Nothing, _) => return Ok(()),
        (OnBadRating::Reopen, TicketStatus::Solved) => {
            let reopen = TicketChanges { status: Some(TicketStatus::Open), ..Default::default() };
            crate::tickets::update_in(conn, ticket.id, None, &reopen).map_err(|error| match error {
                crate::tickets::UpdateError::Db(error) => error,
                other => DbError::Refused(other.to_string()),
            })?;
            note(conn, &ticket, &format!("Reopened by a bad rating. {said}"), now)?;
            None
        }
        // Already open again (the customer wrote), so the note is enough.
        (OnBadRating::Reopen, status) if status.is_unsolved() => {
            note(conn, &ticket, &said, now)?;
            None
        }
        // A closed ticket cannot reopen: a follow-up takes its place.
        (OnBadRating::Reopen | OnBadRating::FollowUp, _) => {
            let subject = format!("Bad rating on #{}: {}", ticket.number.get(), ticket.subject.as_str());
            let new = crate::tickets::NewTicket {
                customer_id: ticket.customer_id,
                subject: Subject::parse(&subject).unwrap_or_else(|_| ticket.subject.clone()),
                priority: Priority::High.max(ticket.priority),
                channel: ticket.channel,
                assignee_id: None,
                team_id: survey.team_id,
                tags: vec![braid_core::Tag::parse("csat:bad").map_err(|e| DbError::Refused(e.to_string()))?],
                at: now,
            };
            let created = crate::tickets::create(conn, new)?;
            let breaches = crate::sla::refresh(conn, created.id, now)?.events;
            let follow_up = crate::tickets::get(conn, created.id)?;
            let mut written = vec![crate::tickets::event(EventKind::TicketCreated, &follow_up)?];
            written.extend(breaches);
            // On the team, unassigned: the team's routing gives it to someone online.
            written.extend(crate::routing::on_ticket_change(conn, None, &follow_up, now)?);
            events::append(conn, written)?;
            note(conn, &follow_up, &format!("Follow-up to #{}. {said}", ticket.number.get()), now)?;
            Some(follow_up.id)
        }
    };
    diesel::update(surveys::table.find(survey.id.to_string()))
        .set((surveys::loop_closed_at.eq(to_db(now)), surveys::follow_up_ticket_id.eq(action.map(|id| id.to_string()))))
        .execute(conn)?;
    Ok(())
}

fn note(conn: &mut DbConn, ticket: &Ticket, text: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    let thread = crate::customers::thread_of(conn, ticket.customer_id)?;
    let message = crate::messages::AgentMessage {
        ticket: ticket.id,
        customer: ticket.customer_id,
        thread,
        author_agent_id: None,
        text: text.to_owned(),
        details: serde_json::json!({ "automated": "csat_bad_rating" }),
    };
    let (_, event) = crate::messages::note_in(conn, message, now)?;
    events::append(conn, vec![event])
}

/// A ticket's surveys, one per solve, oldest first.
pub fn of_ticket(conn: &mut DbConn, ticket: TicketId) -> Result<Vec<Survey>, DbError> {
    surveys::table
        .filter(surveys::ticket_id.eq(ticket.to_string()))
        .order(surveys::cycle.asc())
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Survey::try_from)
        .collect()
}

/// The latest rated surveys of a customer's tickets (through the tickets, so a merge
/// brings the merged customer's ratings along), newest first.
pub fn rated_of_customer(
    conn: &mut DbConn,
    customer: braid_core::CustomerId,
    limit: i64,
) -> Result<Vec<Survey>, DbError> {
    let theirs = tickets::table.filter(tickets::customer_id.eq(customer.to_string())).select(tickets::id);
    surveys::table
        .filter(surveys::ticket_id.eq_any(theirs))
        .filter(surveys::rating.is_not_null())
        .order((surveys::rated_at.desc(), surveys::id.desc()))
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Survey::try_from)
        .collect()
}
