//! Messages: a ticket's messages, one message by id, its original as received, agent
//! replies (queued for delivery through the outbox) and internal notes.

use actix_web::{HttpResponse, get, post, web};
use braid_core::{
    AgentId, AuthorKind, Channel, DeliveryState, Direction, IdentityId, MessageId, Scope, ThreadId, TicketId,
};
use braid_db::messages::{self, AgentMessage, Message};
use braid_db::{Cursor, Page};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::pagination::{PageParams, Paged};
use crate::tickets::ticket_not_found;
use crate::{ApiError, AppState, ErrorCode, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    #[schema(value_type = String, format = Uuid)]
    pub id: MessageId,
    #[schema(value_type = String, format = Uuid)]
    pub thread_id: ThreadId,
    /// `null` for messages kept in the thread only (an auto-reply with no ticket to join).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub ticket_id: Option<TicketId>,
    /// `email`, `chat`, `web_form` or `api`.
    #[schema(value_type = String, example = "email")]
    pub channel: Channel,
    /// `inbound` (from the customer), `outbound` (to the customer) or `note` (internal).
    #[schema(value_type = String, example = "inbound")]
    pub direction: Direction,
    pub author: Author,
    pub text: String,
    /// Sanitised HTML, when the channel had any.
    pub html: Option<String>,
    /// The channel's own id for the message (an email Message-ID).
    pub channel_ref: Option<String>,
    /// Outbound only: `queued`, `sent`, `delivered` or `failed`.
    #[schema(value_type = Option<String>, example = "queued")]
    pub delivery_state: Option<DeliveryState>,
    /// The channel an outbound message really went out on, when not its own: `email` for a
    /// chat reply the visitor never saw.
    #[schema(value_type = Option<String>, example = json!(null))]
    pub sent_via: Option<Channel>,
    /// Why placement put the message here, in the order the rules ran. Without
    /// `customers:read` a reason naming an identity leaves out its `value`.
    #[schema(value_type = Vec<Object>, example = json!([{"rule": "known_identity", "kind": "email", "value": "ana@example.org"}, {"rule": "latest_unsolved", "ticket": 1042}]))]
    pub placement: Vec<serde_json::Value>,
    /// Channel-specific details, such as an email's envelope. Its addresses (`from`,
    /// `sender`, `extra_from`, `to`, `cc`) are customer data: a caller without
    /// `customers:read` gets the message without them. An email that went past Braid's caps
    /// says what was left out in `over_limits` (`html`: `size`, `depth`, `nodes` or `work`;
    /// `attachments`, `to`, `cc`: `{kept, total}`); one no parser could read is `malformed`
    /// (and `parser_failed` when a parser broke on it). The original has it all.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The customer's identity an inbound message came from (`null` for ours).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub identity_id: Option<IdentityId>,
    pub created_at: DateTime<Utc>,
    /// In a list, `text`, `html` and the long parts of `details` (`quoted`, `signature`)
    /// are cut at 64 KiB each; `true` when any was. `GET /v1/messages/{id}` has the whole
    /// message.
    pub truncated: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Author {
    /// `customer`, `agent` or `system`.
    #[schema(value_type = String, example = "customer")]
    pub kind: AuthorKind,
    /// The agent, when an agent wrote it.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub agent_id: Option<AgentId>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            thread_id: m.thread_id,
            ticket_id: m.ticket_id,
            channel: m.channel,
            direction: m.direction,
            author: Author { kind: m.author_kind, agent_id: m.author_agent_id },
            text: m.text,
            html: m.html,
            channel_ref: m.channel_ref,
            delivery_state: m.delivery_state,
            sent_via: m.sent_via,
            placement: m.placement.iter().filter_map(|reason| serde_json::to_value(reason).ok()).collect(),
            details: m.details,
            identity_id: m.identity_id,
            created_at: m.created_at,
            truncated: false,
        }
    }
}

/// What a list shows of one message's text, in bytes, per part.
pub(crate) const LISTED_TEXT_BYTES: usize = 64 * 1024;
/// A list page stops adding messages once it holds this many bytes of them; its
/// `next_cursor` continues after the last one it holds.
pub(crate) const PAGE_BYTES: usize = 4 * 1024 * 1024;

impl MessageView {
    /// As agents read it: a survey's links are the customer's to use, so an agent reading
    /// the thread gets them cut (`csat1.…`) and cannot rate their own work. Connector
    /// callbacks, which carry the message to the customer, keep them whole.
    fn for_agents(mut self) -> Self {
        if self.details["automated"] == "csat_survey" {
            self.text = braid_core::csat::hide_tokens(&self.text).into_owned();
        }
        self
    }

    /// The message as a list shows it: long parts cut (see `truncated`).
    fn listed(m: Message) -> Self {
        let mut view = Self::from(m);
        let mut cut = false;
        cut |= truncate(&mut view.text);
        if let Some(html) = &mut view.html {
            cut |= truncate(html);
        }
        for part in ["quoted", "signature", "raw"] {
            if let Some(serde_json::Value::String(text)) = view.details.get_mut(part) {
                cut |= truncate(text);
            }
        }
        view.truncated = cut;
        view
    }

    /// About what the message weighs in JSON.
    fn weight(&self) -> usize {
        let details = serde_json::to_vec(&self.details).map(|d| d.len()).unwrap_or_default();
        self.text.len() + self.html.as_ref().map_or(0, String::len) + details + 512
    }
}

/// The one rule for customer data in messages: reading a message needs `tickets:read`;
/// who wrote it and who was copied (the envelope's addresses), and the original as
/// received, also need `customers:read`, as the customer and their thread do.
pub(crate) fn shows_addresses(caller: &Principal) -> bool {
    caller.require(Scope::CustomersRead).is_ok()
}

fn without_addresses(mut view: MessageView) -> MessageView {
    if let Some(details) = view.details.as_object_mut() {
        for key in ["from", "sender", "extra_from", "to", "cc"] {
            details.remove(key);
        }
    }
    // An identity named as a reason (`known_identity`, `new_customer`, …) is an address too.
    for reason in view.placement.iter_mut().filter_map(serde_json::Value::as_object_mut) {
        if reason.contains_key("kind") {
            reason.remove("value");
        }
    }
    view
}

/// Cuts `text` to at most `LISTED_TEXT_BYTES`, on a character boundary; whether it did.
fn truncate(text: &mut String) -> bool {
    if text.len() <= LISTED_TEXT_BYTES {
        return false;
    }
    let mut end = LISTED_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// A page of messages for a list: each cut to `LISTED_TEXT_BYTES` per part, and the page
/// to about `PAGE_BYTES` (a ticket of a few 20 MB mails once made a 112 MB page).
pub(crate) fn listed_page(page: Page<Message>, addresses: bool) -> Paged<MessageView> {
    let total = page.items.len();
    let (mut data, mut bytes, mut next) = (Vec::with_capacity(total), 0, page.next);
    for message in page.items {
        let key = Cursor { at: message.created_at, id: message.id.to_string() };
        let view = MessageView::listed(message).for_agents();
        let view = if addresses { view } else { without_addresses(view) };
        bytes += view.weight();
        data.push(view);
        if bytes >= PAGE_BYTES && data.len() < total {
            next = Some(key);
            break;
        }
    }
    Paged::new(data, next.as_ref())
}

/// The largest message body accepted from an agent, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 100_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Your refund is on its way."}))]
pub struct NewReply {
    pub text: String,
    /// Defaults to the channel the customer last wrote on in this ticket, else the
    /// ticket's own channel; `api` goes to the connector the customer wrote through, and
    /// when none did (a ticket opened through the API), the reply goes by email. A web
    /// form carries no replies: a customer who last wrote through one is answered by email,
    /// at the address they typed (`web_form` asked by name is `422`).
    #[schema(value_type = Option<String>, example = "email")]
    pub channel: Option<Channel>,
    /// Files to send along, uploaded first with `POST /v1/attachments` (or received): at
    /// most 20, and 18 MiB in all.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub attachments: Vec<ReplyAttachment>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyAttachment {
    /// The attachment's id (its SHA-256).
    pub id: String,
    #[schema(example = "label.pdf")]
    pub filename: String,
    #[schema(example = "application/pdf")]
    pub content_type: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Customer called; refund approved by finance."}))]
pub struct NewNote {
    pub text: String,
}

fn checked_text(text: String) -> Result<String, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "text cannot be empty"));
    }
    if text.contains('\0') {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "text cannot contain NUL characters"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::new(ErrorCode::ValidationFailed, format!("text is at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(text)
}

/// A ticket's messages, oldest first.
///
/// Long messages are cut (`truncated: true`; the whole one is `GET /v1/messages/{id}`) and
/// a page stops at about 4 MiB. Without `customers:read` the envelope's addresses are left
/// out of `details`.
#[utoipa::path(
    tag = "messages",
    operation_id = "listTicketMessages",
    params(("id" = String, Path, format = Uuid), PageParams),
    responses((status = 200, description = "A page of the ticket's messages, oldest first.", body = Paged<MessageView>), responses::Auth, responses::NotFound, responses::BadQuery),
    security(("bearer" = [])),
)]
#[get("/v1/tickets/{id}/messages")]
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let (id, limit, cursor) = (id.into_inner(), page.limit()?, page.cursor()?);
    let page = state
        .db
        .run(move |conn| {
            braid_db::tickets::get(conn, id)?;
            messages::list(conn, messages::Scope::Ticket(id), cursor.as_ref(), limit)
        })
        .await
        .map_err(ticket_not_found)?;
    Ok(HttpResponse::Ok().json(listed_page(page, shows_addresses(&caller))))
}

/// Reply to the customer.
///
/// The reply is stored with `delivery_state: queued` and an outbox entry in one
/// transaction; the channel's worker delivers it and updates the state.
#[utoipa::path(
    tag = "messages",
    operation_id = "createTicketReply",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewReply,
    responses(
        (status = 201, description = "Stored and queued.", body = MessageView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The ticket is closed (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/tickets/{id}/replies")]
async fn reply(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    body: web::Json<NewReply>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let NewReply { text, channel, attachments } = body.into_inner();
    let text = checked_text(text)?;
    let files = crate::attachments::checked(&state, attachments)?;
    let (id, author) = (id.into_inner(), caller.agent_id());
    let message = state
        .db
        .run(move |conn| {
            let (ticket, mut message) = agent_message(conn, id, author, text)?;
            if !files.is_empty() {
                message.details = serde_json::json!({ "attachments": files });
            }
            let (channel, route) = match channel {
                None => messages::default_route(conn, id, ticket.channel)?,
                // Only a connector delivers on `api`; the reply keeps the route it was written for.
                Some(Channel::Api) => match braid_db::connectors::route_of(conn, id)? {
                    Some(route) => (Channel::Api, Some(serde_json::to_value(route)?)),
                    None => {
                        return Err(braid_db::DbError::Invalid {
                            field: "channel".into(),
                            message: "no connector serves this ticket: its customer never wrote through one".into(),
                        });
                    }
                },
                // A web form carries nothing back: its answer goes to the address typed in it.
                Some(Channel::WebForm) => {
                    return Err(braid_db::DbError::Invalid {
                        field: "channel".into(),
                        message: "a web form carries no replies; answer by email (the default)".into(),
                    });
                }
                Some(other) => (other, None),
            };
            if let (Some(route), Some(details)) = (route, message.details.as_object_mut()) {
                details.insert("route".into(), route);
            }
            messages::reply(conn, message, channel)
        })
        .await
        .map_err(ticket_not_found)?;
    Ok(created(message))
}

/// Add an internal note; it is never sent to the customer.
#[utoipa::path(
    tag = "messages",
    operation_id = "createTicketNote",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewNote,
    responses(
        (status = 201, description = "Stored; notes are never sent to the customer.", body = MessageView),
        responses::Auth, responses::NotFound, responses::BadInput,
        (status = 409, description = "The ticket is closed (`conflict`).", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/tickets/{id}/notes")]
async fn note(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<TicketId>,
    body: web::Json<NewNote>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsWrite)?;
    let text = checked_text(body.into_inner().text)?;
    let (id, author) = (id.into_inner(), caller.agent_id());
    let message = state
        .db
        .run(move |conn| {
            let (_, message) = agent_message(conn, id, author, text)?;
            messages::note(conn, message)
        })
        .await
        .map_err(ticket_not_found)?;
    Ok(created(message))
}

/// The ticket, and the message an agent (or an API key, as `author: None`) writes on it.
fn agent_message(
    conn: &mut braid_db::DbConn,
    id: TicketId,
    author: Option<AgentId>,
    text: String,
) -> Result<(braid_db::tickets::Ticket, AgentMessage), braid_db::DbError> {
    let ticket = braid_db::tickets::get(conn, id)?;
    let thread = braid_db::customers::thread_of(conn, ticket.customer_id)?;
    let message = AgentMessage {
        ticket: id,
        customer: ticket.customer_id,
        thread,
        author_agent_id: author,
        text,
        details: serde_json::json!({}),
    };
    Ok((ticket, message))
}

fn message_not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("message with this id"),
        other => other.into(),
    }
}

fn created(message: Message) -> HttpResponse {
    let location = format!("/v1/tickets/{}/messages", message.ticket_id.map(|t| t.to_string()).unwrap_or_default());
    HttpResponse::Created().insert_header(("location", location)).json(MessageView::from(message))
}

/// One message as the thread shows it: what answers and events name by id.
///
/// Whole, never cut. Without `customers:read` the envelope's addresses are left out of
/// `details`.
#[utoipa::path(
    tag = "messages",
    operation_id = "getMessage",
    params(("id" = String, Path, format = Uuid, description = "The message's id.")),
    responses((status = 200, description = "The message as the thread shows it.", body = MessageView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/messages/{id}")]
async fn get(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let id = id.into_inner();
    let message = state.db.run(move |conn| messages::get(conn, id)).await.map_err(message_not_found)?;
    let view = MessageView::from(message).for_agents();
    Ok(HttpResponse::Ok().json(if shows_addresses(&caller) { view } else { without_addresses(view) }))
}

/// Download a message as its channel delivered it: an email's raw RFC 5322 source
/// (`message/rfc822`), or a provider's JSON when it sent no raw message.
///
/// Served as a download, never rendered. Needs `customers:read` as well as `tickets:read`:
/// the original holds the sender's and recipients' addresses.
#[utoipa::path(
    tag = "messages",
    operation_id = "getMessageOriginal",
    params(("id" = String, Path, format = Uuid, description = "The message's id.")),
    responses(
        (status = 200, description = "The bytes as received, with their content type and `Content-Disposition: attachment`.", content_type = "message/rfc822", body = Vec<u8>),
        responses::Auth,
        (status = 404, description = "No message with this id, or it has no original (`not_found`): agents' replies and notes, and messages placed through the API.", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/messages/{id}/original")]
async fn original(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    // The raw message is its envelope too: customer data (see `shows_addresses`).
    caller.require(Scope::CustomersRead)?;
    let id = id.into_inner();
    let original = state.db.run(move |conn| messages::original(conn, id)).await.map_err(message_not_found)?;
    let original = original.ok_or_else(|| ApiError::not_found("original of this message: it was not received"))?;
    let extension = if original.content_type == "message/rfc822" { "eml" } else { "json" };
    Ok(HttpResponse::Ok()
        .content_type(original.content_type)
        .insert_header(("content-disposition", format!("attachment; filename=\"{id}.{extension}\"")))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(original.bytes))
}

/// The agent read the customer's messages up to this one: the chat visitor sees it as a
/// read receipt (`seen`), and the live stream as `message.seen`.
#[utoipa::path(
    tag = "messages",
    operation_id = "markMessageSeen",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Recorded."), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[post("/v1/messages/{id}/seen")]
async fn seen(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TicketsRead)?;
    let (agent, id) = (caller.agent_id(), id.into_inner());
    state.db.run(move |conn| braid_db::chat::visitors::agent_seen(conn, agent, id)).await.map_err(
        |error| match error {
            braid_db::DbError::NotFound => ApiError::not_found("message with this id"),
            other => other.into(),
        },
    )?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use braid_core::placement::PlacementReason;
    use braid_core::{
        AgentId, AuthorKind, Channel, DeliveryState, Direction, IdentityId, MessageId, ThreadId, TicketId,
    };

    use super::*;

    /// A survey's links stay whole for the customer's channels (a connector's callback
    /// carries `MessageView`) and are cut where agents read.
    #[test]
    fn agents_read_survey_messages_without_working_links() {
        let token = braid_core::csat::SurveyTokens::new(b"k").sign(&braid_core::csat::Claims {
            survey: braid_core::SurveyId::new(),
            ticket: TicketId::new(),
            customer: braid_core::CustomerId::new(),
            cycle: 1,
            expires: 0,
        });
        let message = braid_db::messages::Message {
            id: MessageId::new(),
            thread_id: ThreadId::new(),
            ticket_id: Some(TicketId::new()),
            channel: Channel::Api,
            direction: Direction::Outbound,
            author_kind: AuthorKind::System,
            author_agent_id: None,
            text: braid_core::csat::message_text("How did we do?", &format!("https://help.example/csat/v1/{token}")),
            html: None,
            channel_ref: None,
            delivery_state: Some(DeliveryState::Queued),
            sent_via: None,
            sent_to: None,
            placement: vec![],
            details: serde_json::json!({"automated": "csat_survey"}),
            identity_id: None,
            created_at: chrono::Utc::now(),
        };
        assert!(MessageView::from(message.clone()).text.contains(&token), "the customer's copy works");
        assert!(!MessageView::from(message).for_agents().text.contains(&token));
    }

    /// Events carry a message as braid-db writes it (`messages::shown`); the API shows it
    /// through `MessageView`. Both must be the same JSON, every field set.
    #[test]
    fn events_carry_a_message_exactly_as_the_api_shows_it() {
        let message = braid_db::messages::Message {
            id: MessageId::new(),
            thread_id: ThreadId::new(),
            ticket_id: Some(TicketId::new()),
            channel: Channel::Chat,
            direction: Direction::Outbound,
            author_kind: AuthorKind::Agent,
            author_agent_id: Some(AgentId::new()),
            text: "Hello".into(),
            html: Some("<p>Hello</p>".into()),
            channel_ref: Some("<a@b>".into()),
            delivery_state: Some(DeliveryState::Delivered),
            placement: vec![PlacementReason::NewTicket],
            details: serde_json::json!({"from": {"address": "a@b.example"}}),
            sent_to: Some("a@b.example".into()),
            sent_via: Some(Channel::Email),
            identity_id: Some(IdentityId::new()),
            created_at: chrono::Utc::now(),
        };
        let shown = braid_db::messages::shown(&message).unwrap();
        assert_eq!(shown, serde_json::to_value(MessageView::from(message)).unwrap());
    }
}
