//! Messages: every message of every channel, in its customer's thread.

use braid_core::placement::{Earlier, PlacementReason, TicketSnapshot};
use braid_core::{
    AgentId, AuthorKind, Channel, DeliveryState, Direction, EventKind, IdentityId, MessageId, ThreadId, TicketId,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::events::NewEvent;
use crate::schema::{messages, tickets};
use crate::tickets::SnapshotRow;
use crate::{Cursor, DbConn, DbError, Page, dialect, events, from_db, outbox, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub thread_id: ThreadId,
    pub ticket_id: Option<TicketId>,
    pub channel: Channel,
    pub direction: Direction,
    pub author_kind: AuthorKind,
    pub author_agent_id: Option<AgentId>,
    pub text: String,
    pub html: Option<String>,
    /// The channel's own id for the message (an email Message-ID, a chat client id).
    pub channel_ref: Option<String>,
    pub delivery_state: Option<DeliveryState>,
    /// Why placement put the message where it is.
    pub placement: Vec<PlacementReason>,
    /// Channel-specific details (an email's envelope, a chat session).
    pub details: serde_json::Value,
    /// The address an outbound email went to, once sent.
    pub sent_to: Option<String>,
    /// The channel an outbound message really went out on, when not its own (a chat reply
    /// the visitor never saw, sent by email).
    pub sent_via: Option<Channel>,
    /// The identity an inbound message came from.
    pub identity_id: Option<IdentityId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct MessageRow {
    id: String,
    thread_id: String,
    ticket_id: Option<String>,
    channel: String,
    direction: String,
    author_kind: String,
    author_agent_id: Option<String>,
    body_text: String,
    body_html: Option<String>,
    channel_ref: Option<String>,
    delivery_state: Option<String>,
    placement: String,
    details: String,
    sent_to: Option<String>,
    sent_via: Option<String>,
    identity_id: Option<String>,
    created_at: NaiveDateTime,
}

impl TryFrom<MessageRow> for Message {
    type Error = DbError;

    fn try_from(row: MessageRow) -> Result<Self, DbError> {
        Ok(Message {
            id: row.id.parse()?,
            thread_id: row.thread_id.parse()?,
            ticket_id: row.ticket_id.map(|id| id.parse()).transpose()?,
            channel: row.channel.parse()?,
            direction: row.direction.parse()?,
            author_kind: row.author_kind.parse()?,
            author_agent_id: row.author_agent_id.map(|id| id.parse()).transpose()?,
            text: row.body_text,
            html: row.body_html,
            channel_ref: row.channel_ref,
            delivery_state: row.delivery_state.map(|s| s.parse()).transpose()?,
            placement: serde_json::from_str(&row.placement)?,
            details: serde_json::from_str(&row.details)?,
            sent_to: row.sent_to,
            sent_via: row.sent_via.map(|c| c.parse()).transpose()?,
            identity_id: row.identity_id.map(|id| id.parse()).transpose()?,
            created_at: from_db(row.created_at),
        })
    }
}

pub fn get(conn: &mut DbConn, id: MessageId) -> Result<Message, DbError> {
    messages::table.find(id.to_string()).select(MessageRow::as_select()).first(conn)?.try_into()
}

/// Messages by id, oldest first (ids not found are left out).
pub fn get_many(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Message>, DbError> {
    messages::table
        .filter(dialect::planned_each_time())
        .filter(messages::id.eq_any(ids))
        .order((messages::created_at.asc(), messages::id.asc()))
        .select(MessageRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Message::try_from)
        .collect()
}

/// The channels whose messages may carry `channel`'s references: a chat reply that went by
/// email carries the email's Message-ID (its `sent_via`), so answers and bounces find it.
/// (A chat message's own reference never looks like a Message-ID: it starts with the
/// visitor's id, never `<`.)
fn carriers(channel: Channel) -> Vec<&'static str> {
    match channel {
        Channel::Email => vec![Channel::Email.as_str(), Channel::Chat.as_str()],
        other => vec![other.as_str()],
    }
}

/// Our own outbound message with this channel reference (an inbound message may carry
/// the same id: a sender can reuse anything).
pub fn find_ours(conn: &mut DbConn, channel: Channel, channel_ref: &str) -> Result<Option<Message>, DbError> {
    messages::table
        .filter(messages::channel.eq_any(carriers(channel)).and(messages::channel_ref.eq(channel_ref)))
        .filter(messages::direction.eq(Direction::Outbound.as_str()))
        .filter(dialect::planned_each_time())
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?
        .map(Message::try_from)
        .transpose()
}

/// What was stored before under a message's own channel reference: the oldest message
/// under it and, if another, the inbound one with this content. Two index probes whatever
/// the number of messages a sender put under one reused id.
pub fn earlier_under(
    conn: &mut DbConn,
    channel: Channel,
    channel_ref: &str,
    content_digest: &str,
) -> Result<Vec<Earlier>, DbError> {
    let under =
        || messages::table.filter(messages::channel.eq(channel.as_str()).and(messages::channel_ref.eq(channel_ref)));
    let columns = (messages::id, messages::direction, messages::content_digest);
    let first: Option<(String, String, Option<String>)> =
        under().order(messages::id).select(columns).first(conn).optional()?;
    let Some(first) = first else {
        return Ok(vec![]);
    };
    let inbound = Direction::Inbound.as_str();
    let mut rows = vec![first];
    if !(rows[0].1 == inbound && rows[0].2.as_deref() == Some(content_digest)) {
        let same = under()
            .filter(messages::content_digest.eq(content_digest).and(messages::direction.eq(inbound)))
            .select(columns)
            .first(conn)
            .optional()?;
        rows.extend(same);
    }
    rows.into_iter()
        .map(|(id, direction, content_digest)| {
            Ok(Earlier { message_id: id.parse()?, inbound: direction == inbound, content_digest })
        })
        .collect()
}

/// What a new message's references name: per reference, the ticket of each message stored
/// under it and, for an outbound email of ours, the address it went to. One row per
/// reference, ticket and address, however many messages share a reused id.
#[derive(Debug, Clone, PartialEq)]
pub struct Referenced {
    pub channel_ref: String,
    pub ticket: Option<TicketSnapshot>,
    /// Set on our outbound messages once sent: only that address's owner read it.
    pub sent_to: Option<String>,
}

pub fn tickets_of_refs(conn: &mut DbConn, channel: Channel, channel_refs: &[&str]) -> Result<Vec<Referenced>, DbError> {
    if channel_refs.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(Option<String>, Option<String>, Option<SnapshotRow>)> = messages::table
        .left_join(tickets::table.on(messages::ticket_id.eq(tickets::id.nullable())))
        .filter(messages::channel.eq_any(carriers(channel)).and(messages::channel_ref.eq_any(channel_refs)))
        .filter(dialect::planned_each_time())
        .select((messages::channel_ref, messages::sent_to, SnapshotRow::columns().nullable()))
        .distinct()
        .load(conn)?;
    rows.into_iter()
        .filter_map(|(channel_ref, sent_to, ticket)| channel_ref.map(|r| (r, sent_to, ticket)))
        .map(|(channel_ref, sent_to, ticket)| {
            Ok(Referenced { channel_ref, ticket: ticket.map(SnapshotRow::snapshot).transpose()?, sent_to })
        })
        .collect()
}

/// A message exactly as its channel delivered it, kept beside the message for audits,
/// re-parsing and download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// How to serve the bytes: `message/rfc822` for a raw email.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The original of a message, if its channel delivered one.
pub fn original(conn: &mut DbConn, id: MessageId) -> Result<Option<Original>, DbError> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> = messages::table
        .find(id.to_string())
        .select((messages::original_type, messages::original))
        .first(conn)
        .optional()?;
    let (content_type, bytes) = row.ok_or(DbError::NotFound)?;
    Ok(content_type.zip(bytes).map(|(content_type, bytes)| Original { content_type, bytes }))
}

/// Everything needed to store one message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub thread_id: ThreadId,
    pub ticket_id: Option<TicketId>,
    pub channel: Channel,
    pub direction: Direction,
    pub author_kind: AuthorKind,
    pub author_agent_id: Option<AgentId>,
    pub text: String,
    pub html: Option<String>,
    pub channel_ref: Option<String>,
    /// What makes an inbound message the same as another (see `placement::deduplicate`).
    pub content_digest: Option<String>,
    /// The identity an inbound message came from, when its customer holds it.
    pub identity_id: Option<IdentityId>,
    pub delivery_state: Option<DeliveryState>,
    pub placement: Vec<PlacementReason>,
    pub details: serde_json::Value,
    /// Stored in the same row, in the same transaction.
    pub original: Option<Original>,
    pub at: DateTime<Utc>,
}

/// Stores a message. A `(channel, channel_ref, content_digest)` seen before fails with
/// [`DbError::Conflict`]: the database, not this code, guarantees no duplicate lands.
/// NUL characters, which PostgreSQL cannot store in text, become U+FFFD: a message with
/// one is kept, not refused.
pub fn insert(conn: &mut DbConn, mut new: NewMessage) -> Result<Message, DbError> {
    let id = MessageId::new();
    new.text = without_nul(new.text);
    new.html = new.html.map(without_nul);
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(id.to_string()),
            messages::thread_id.eq(new.thread_id.to_string()),
            messages::ticket_id.eq(new.ticket_id.map(|t| t.to_string())),
            messages::channel.eq(new.channel.as_str()),
            messages::direction.eq(new.direction.as_str()),
            messages::author_kind.eq(new.author_kind.as_str()),
            messages::author_agent_id.eq(new.author_agent_id.map(|a| a.to_string())),
            messages::body_text.eq(&new.text),
            messages::body_html.eq(&new.html),
            messages::channel_ref.eq(&new.channel_ref),
            messages::content_digest.eq(&new.content_digest),
            messages::identity_id.eq(new.identity_id.map(|i| i.to_string())),
            messages::delivery_state.eq(new.delivery_state.map(DeliveryState::as_str)),
            messages::placement.eq(serde_json::to_string(&new.placement)?),
            messages::details.eq(new.details.to_string()),
            messages::created_at.eq(to_db(new.at)),
            messages::original_type.eq(new.original.as_ref().map(|o| o.content_type.as_str())),
            messages::original.eq(new.original.as_ref().map(|o| o.bytes.as_slice())),
        ))
        .execute(conn)?;
    Ok(Message {
        id,
        thread_id: new.thread_id,
        ticket_id: new.ticket_id,
        channel: new.channel,
        direction: new.direction,
        author_kind: new.author_kind,
        author_agent_id: new.author_agent_id,
        text: new.text,
        html: new.html,
        channel_ref: new.channel_ref,
        delivery_state: new.delivery_state,
        placement: new.placement,
        details: new.details,
        sent_to: None,
        sent_via: None,
        identity_id: new.identity_id,
        created_at: crate::truncate_to_micros(new.at),
    })
}

/// The `message.created` event.
pub fn created_event(message: &Message, customer_id: impl ToString) -> Result<NewEvent, DbError> {
    event(EventKind::MessageCreated, message, customer_id, message.created_at)
}

/// The `message.updated` event (a delivery state, a fallback channel).
pub fn updated_event(message: &Message, customer_id: impl ToString, at: DateTime<Utc>) -> Result<NewEvent, DbError> {
    event(EventKind::MessageUpdated, message, customer_id, at)
}

fn event(
    kind: EventKind,
    message: &Message,
    customer_id: impl ToString,
    at: DateTime<Utc>,
) -> Result<NewEvent, DbError> {
    let event = NewEvent::new(kind, message.id, &Shown::from(message), at)?.customer(customer_id);
    Ok(match message.ticket_id {
        Some(ticket) => event.ticket(ticket),
        None => event,
    })
}

/// A message as the API shows it (`GET /v1/messages/{id}`) and events carry it, so a
/// webhook, the feed and the stream need no second call.
pub fn shown(message: &Message) -> Result<serde_json::Value, DbError> {
    Ok(serde_json::to_value(Shown::from(message))?)
}

/// The message as [`shown`]: which address an email went to stays out, as in the API.
#[derive(Serialize)]
struct Shown<'a> {
    id: MessageId,
    thread_id: ThreadId,
    ticket_id: Option<TicketId>,
    channel: Channel,
    direction: Direction,
    author: ShownAuthor,
    text: &'a str,
    html: Option<&'a str>,
    channel_ref: Option<&'a str>,
    delivery_state: Option<DeliveryState>,
    sent_via: Option<Channel>,
    placement: &'a [PlacementReason],
    details: &'a serde_json::Value,
    identity_id: Option<IdentityId>,
    created_at: DateTime<Utc>,
    /// Events carry the whole message, never a list's cut.
    truncated: bool,
}

#[derive(Serialize)]
struct ShownAuthor {
    kind: AuthorKind,
    agent_id: Option<AgentId>,
}

impl<'a> From<&'a Message> for Shown<'a> {
    fn from(m: &'a Message) -> Self {
        Shown {
            id: m.id,
            thread_id: m.thread_id,
            ticket_id: m.ticket_id,
            channel: m.channel,
            direction: m.direction,
            author: ShownAuthor { kind: m.author_kind, agent_id: m.author_agent_id },
            text: &m.text,
            html: m.html.as_deref(),
            channel_ref: m.channel_ref.as_deref(),
            delivery_state: m.delivery_state,
            sent_via: m.sent_via,
            placement: &m.placement,
            details: &m.details,
            identity_id: m.identity_id,
            created_at: m.created_at,
            truncated: false,
        }
    }
}

/// A thread or a ticket's messages, oldest first.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Thread(ThreadId),
    Ticket(TicketId),
}

pub fn list(conn: &mut DbConn, scope: Scope, after: Option<&Cursor>, limit: i64) -> Result<Page<Message>, DbError> {
    let mut query = messages::table
        .select(MessageRow::as_select())
        .order((messages::created_at.asc(), messages::id.asc()))
        .into_boxed();
    query = match scope {
        Scope::Thread(thread) => query.filter(messages::thread_id.eq(thread.to_string())),
        Scope::Ticket(ticket) => query.filter(messages::ticket_id.eq(ticket.to_string())),
    };
    if let Some(cursor) = after {
        let at = to_db(cursor.at);
        query = query.filter(
            messages::created_at.ge(at).and(messages::created_at.gt(at).or(messages::id.gt(cursor.id.clone()))),
        );
    }
    let rows = query.limit(limit + 1).load(conn)?.into_iter().map(Message::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, limit, |m| Cursor { at: m.created_at, id: m.id.to_string() }))
}

/// The channel the customer last wrote on in this ticket, if they ever did.
pub fn last_inbound_channel(conn: &mut DbConn, ticket: TicketId) -> Result<Option<Channel>, DbError> {
    messages::table
        .filter(messages::ticket_id.eq(ticket.to_string()).and(messages::direction.eq(Direction::Inbound.as_str())))
        .order((messages::created_at.desc(), messages::id.desc()))
        .select(messages::channel)
        .first::<String>(conn)
        .optional()?
        .map(|channel| channel.parse().map_err(DbError::from))
        .transpose()
}

/// An agent's (or an integration's) message on a ticket.
#[derive(Debug, Clone)]
pub struct AgentMessage {
    pub ticket: TicketId,
    pub customer: braid_core::CustomerId,
    pub thread: ThreadId,
    pub author_agent_id: Option<AgentId>,
    pub text: String,
    pub details: serde_json::Value,
}

/// A reply to the customer: stored `queued` with its outbox entry, in one transaction, so
/// it is never stored without being queued nor queued without being stored.
pub fn reply(conn: &mut DbConn, message: AgentMessage, channel: Channel) -> Result<Message, DbError> {
    write_agent_message(conn, message, Direction::Outbound, channel)
}

/// An internal note: visible to agents, never sent.
pub fn note(conn: &mut DbConn, message: AgentMessage) -> Result<Message, DbError> {
    write_agent_message(conn, message, Direction::Note, Channel::Api)
}

/// A reply queued inside the caller's write transaction (placement acknowledging a new
/// ticket): stored and queued like [`reply`]; its event is returned for the caller to
/// append after its own, so the log shows the ticket before its acknowledgement.
pub fn queue_reply_in(
    conn: &mut DbConn,
    message: AgentMessage,
    channel: Channel,
    at: DateTime<Utc>,
) -> Result<(Message, NewEvent), DbError> {
    store_agent_message(conn, message, Direction::Outbound, channel, at)
}

/// An internal note written inside the caller's write transaction (a rule's record of what
/// it did); its event is returned for the caller to append.
pub fn note_in(conn: &mut DbConn, message: AgentMessage, at: DateTime<Utc>) -> Result<(Message, NewEvent), DbError> {
    store_agent_message(conn, message, Direction::Note, Channel::Api, at)
}

/// Where a reply goes when nobody names a channel: where the customer last wrote (or the
/// ticket's own channel), with `api` only when a connector serves the ticket (its route
/// returned, for the message's `details.route`), and a web form's answer by email.
pub fn default_route(
    conn: &mut DbConn,
    ticket: TicketId,
    fallback: Channel,
) -> Result<(Channel, Option<serde_json::Value>), DbError> {
    let channel = last_inbound_channel(conn, ticket)?.unwrap_or(fallback);
    match channel {
        Channel::Api => match crate::connectors::route_of(conn, ticket)? {
            Some(route) => Ok((Channel::Api, Some(serde_json::to_value(route)?))),
            None => Ok((Channel::Email, None)),
        },
        Channel::WebForm => Ok((Channel::Email, None)),
        other => Ok((other, None)),
    }
}

/// What a reply written at `at` changes on its ticket (its SLA clocks): the events to
/// append after the reply's own.
pub fn after_reply_in(conn: &mut DbConn, ticket: TicketId, at: DateTime<Utc>) -> Result<Vec<NewEvent>, DbError> {
    let refreshed = crate::sla::refresh(conn, ticket, at)?;
    let mut written = vec![];
    if let Some(changed) = &refreshed.changed {
        written.push(crate::tickets::event(EventKind::TicketUpdated, changed)?);
    }
    written.extend(refreshed.events);
    Ok(written)
}

fn write_agent_message(
    conn: &mut DbConn,
    message: AgentMessage,
    direction: Direction,
    channel: Channel,
) -> Result<Message, DbError> {
    dialect::write_transaction(conn, |conn| {
        let (ticket, now) = (message.ticket, crate::now());
        let (stored, event) = store_agent_message(conn, message, direction, channel, now)?;
        let mut written = vec![event];
        if direction == Direction::Outbound {
            written.extend(after_reply_in(conn, ticket, now)?);
        }
        events::append(conn, written)?;
        Ok(stored)
    })
}

fn store_agent_message(
    conn: &mut DbConn,
    message: AgentMessage,
    direction: Direction,
    channel: Channel,
    at: DateTime<Utc>,
) -> Result<(Message, NewEvent), DbError> {
    // The thread first, as placement does: the same lock order everywhere, so a reply
    // and an inbound message on one ticket cannot deadlock.
    crate::customers::lock_thread(conn, message.thread)?;
    let (status, owner): (String, String) = crate::schema::tickets::table
        .find(message.ticket.to_string())
        .select((crate::schema::tickets::status, crate::schema::tickets::customer_id))
        .first(conn)?;
    if owner != message.customer.to_string() {
        // A merge's undo moved the ticket to another customer while we waited.
        return Err(DbError::Moved);
    }
    if status == braid_core::TicketStatus::Closed.as_str() {
        return Err(DbError::TicketClosed);
    }
    let stored = insert(
        conn,
        NewMessage {
            thread_id: message.thread,
            ticket_id: Some(message.ticket),
            channel,
            direction,
            author_kind: if message.author_agent_id.is_some() { AuthorKind::Agent } else { AuthorKind::System },
            author_agent_id: message.author_agent_id,
            text: message.text,
            html: None,
            channel_ref: None,
            content_digest: None,
            identity_id: None,
            delivery_state: (direction == Direction::Outbound).then_some(DeliveryState::Queued),
            placement: vec![],
            original: None,
            details: message.details,
            at,
        },
    )?;
    if direction == Direction::Outbound {
        outbox::enqueue(conn, stored.id, channel, at)?;
        crate::tickets::touch(conn, message.ticket, at)?;
    }
    crate::customers::touch_thread(conn, message.thread, at)?;
    let event = created_event(&stored, message.customer)?;
    Ok((stored, event))
}

fn without_nul(text: String) -> String {
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text }
}

/// A ticket's messages on some channels, oldest first: what an email reply needs to thread
/// (the email Message-IDs) and to address (who wrote last, by email or a web form).
pub fn channel_history(conn: &mut DbConn, ticket: TicketId, channels: &[Channel]) -> Result<Vec<Message>, DbError> {
    let channels: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
    messages::table
        .filter(messages::ticket_id.eq(ticket.to_string()).and(messages::channel.eq_any(channels)))
        .order((messages::created_at.asc(), messages::id.asc()))
        .select(MessageRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Message::try_from)
        .collect()
}
