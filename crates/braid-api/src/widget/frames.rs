//! What a visitor is sent: the events of their customer they may read, as frames. The
//! socket and `GET /widget/v1/messages` send the same frames, so the widget has one
//! reader for both.

use std::collections::HashMap;

use braid_core::chat::History;
use braid_core::{AgentId, Channel, CustomerId, Direction, EventKind, IdentityId, ThreadId, TicketId};
use braid_db::chat::visitors::{self, Visitor};
use braid_db::customers::merges;
use braid_db::events::{Event, Position};
use braid_db::messages::Message;
use braid_db::{DbConn, DbError};
use serde_json::{Value, json};

/// A visitor, with what decides what they may read: their customer (once they have one)
/// and, for an anonymous visitor, the tickets they wrote in.
#[derive(Debug, Clone)]
pub struct Reader {
    pub visitor: Visitor,
    pub customer: Option<(CustomerId, ThreadId, IdentityId)>,
    /// The customer and those merged into it: events keep the customer they were written
    /// for, so a reply written before a merge is under the merged-away one.
    customers: Vec<String>,
    pub own: Vec<TicketId>,
    names: HashMap<AgentId, Option<String>>,
}

impl Reader {
    pub fn load(conn: &mut DbConn, visitor: Visitor) -> Result<Self, DbError> {
        let mut reader = Reader { visitor, customer: None, customers: vec![], own: vec![], names: HashMap::new() };
        reader.refresh(conn)?;
        Ok(reader)
    }

    /// Reads the customer again (after a merge moved the visitor, or their first message
    /// made them one).
    pub fn refresh(&mut self, conn: &mut DbConn) -> Result<(), DbError> {
        self.customer = visitors::customer_of(conn, &self.visitor)?;
        (self.own, self.customers) = match self.customer {
            Some((customer, thread, identity)) => {
                let mut customers = vec![customer.to_string()];
                customers.extend(merges::sources_into(conn, customer)?.iter().map(ToString::to_string));
                (visitors::own_tickets(conn, thread, identity)?, customers)
            }
            None => (vec![], vec![]),
        };
        Ok(())
    }

    pub fn customer_id(&self) -> Option<CustomerId> {
        self.customer.map(|(customer, _, _)| customer)
    }

    /// Whether `event` may concern this visitor at all (cheap; no database): the socket
    /// reads the database only for those.
    pub fn concerns(&self, event: &Event) -> bool {
        match self.customer_id() {
            Some(customer) => {
                event.customer_id.as_ref().is_some_and(|c| self.customers.contains(c))
                    || matches!(event.kind, EventKind::CustomerMerged | EventKind::CustomerUnmerged)
                        && event.payload.to_string().contains(&customer.to_string())
            }
            // Not a customer yet: the visitor's first message makes one holding their
            // identity (whose value, a visitor id or a site's user id, the event names).
            None => event.kind == EventKind::CustomerCreated && self.names_me(&event.payload),
        }
    }

    /// Whether a `customer.created` payload (the customer as the API shows it) holds the
    /// visitor's identity. Read in place: every customer-less socket looks at every new
    /// customer.
    fn names_me(&self, payload: &Value) -> bool {
        let mine = |identity: &Value| {
            identity["value"].as_str() == Some(self.visitor.identity.value.as_str())
                && identity["kind"].as_str() == Some(self.visitor.identity.kind.as_string().as_str())
        };
        payload["identities"].as_array().is_some_and(|all| all.iter().any(mine))
    }

    /// The frames `events` make for this visitor, in order.
    pub fn frames(&mut self, conn: &mut DbConn, events: &[std::sync::Arc<Event>]) -> Result<Vec<Value>, DbError> {
        let mut frames = Vec::new();
        for event in events {
            if !self.concerns(event) {
                continue;
            }
            match event.kind {
                EventKind::CustomerCreated | EventKind::CustomerMerged | EventKind::CustomerUnmerged => {
                    self.refresh(conn)?;
                }
                EventKind::MessageCreated | EventKind::MessageUpdated => {
                    if let Some(message) = self.readable(conn, &event.payload)? {
                        let kind = if event.kind == EventKind::MessageCreated { "message" } else { "message_updated" };
                        frames.push(json!({"type": kind, "position": event.position.to_string(), "message": message}));
                    }
                }
                EventKind::TicketUpdated => {
                    let ticket = ticket_of(&event.payload["id"]);
                    if self.may_see_ticket(ticket) {
                        frames.push(json!({
                            "type": "status",
                            "position": event.position.to_string(),
                            "ticket": {"id": event.payload["id"], "number": event.payload["number"], "status": event.payload["status"]},
                        }));
                    }
                }
                EventKind::MessageSeen
                    if event.payload["by"] == "agent"
                        && self.may_see_ticket(ticket_of(&event.payload["ticket_id"])) =>
                {
                    frames.push(json!({
                        "type": "seen",
                        "position": event.position.to_string(),
                        "by": "agent",
                        "message_id": event.payload["message_id"],
                    }));
                }
                _ => {}
            }
        }
        Ok(frames)
    }

    pub fn may_see_ticket(&self, ticket: Option<TicketId>) -> bool {
        match self.visitor.history() {
            History::Thread => true,
            History::Own => ticket.is_some_and(|t| self.own.contains(&t)),
        }
    }

    /// A message as the visitor sees it, if they may.
    fn readable(&mut self, conn: &mut DbConn, payload: &Value) -> Result<Option<Value>, DbError> {
        let Some((_, _, identity)) = self.customer else { return Ok(None) };
        let direction: Option<Direction> = payload["direction"].as_str().and_then(|d| d.parse().ok());
        let channel: Option<Channel> = payload["channel"].as_str().and_then(|c| c.parse().ok());
        let (Some(direction), Some(channel)) = (direction, channel) else { return Ok(None) };
        let ticket = ticket_of(&payload["ticket_id"]);
        let from: Option<IdentityId> = payload["identity_id"].as_str().and_then(|i| i.parse().ok());
        if direction == Direction::Inbound
            && from == Some(identity)
            && let Some(ticket) = ticket
            && !self.own.contains(&ticket)
        {
            self.own.push(ticket);
        }
        let readable = visitors::Readable { direction, channel, identity_id: from, ticket_id: ticket };
        if !visitors::may_read(&self.visitor, Some(identity), &self.own, &readable) {
            return Ok(None);
        }
        // Events written before payloads took the API's shape name the author flat.
        let agent = payload["author"]["agent_id"].as_str().or(payload["author_agent_id"].as_str());
        let agent: Option<AgentId> = agent.and_then(|a| a.parse().ok());
        let name = match agent {
            Some(agent) => self.agent_name(conn, agent)?,
            None => None,
        };
        Ok(Some(view(payload, name)))
    }

    fn agent_name(&mut self, conn: &mut DbConn, agent: AgentId) -> Result<Option<String>, DbError> {
        if let Some(name) = self.names.get(&agent) {
            return Ok(name.clone());
        }
        let name = match braid_db::agents::get(conn, agent) {
            Ok(found) => Some(found.name.as_str().to_owned()),
            Err(DbError::NotFound) => None,
            Err(other) => return Err(other),
        };
        self.names.insert(agent, name.clone());
        Ok(name)
    }

    /// The first load: what the visitor may read now, as message frames, each at `head`
    /// (the position read before the messages: following the log from it misses nothing).
    pub fn history(&mut self, conn: &mut DbConn, head: Position) -> Result<Vec<Value>, DbError> {
        let messages = visitors::history(conn, &self.visitor)?;
        let mut frames = Vec::with_capacity(messages.len());
        for message in messages {
            let name = match message.author_agent_id {
                Some(agent) => self.agent_name(conn, agent)?,
                None => None,
            };
            let payload = braid_db::messages::shown(&message)?;
            frames.push(json!({"type": "message", "position": head.to_string(), "message": view(&payload, name)}));
        }
        // The latest read receipt, so seen ticks survive a reload.
        let receipts = braid_db::events::latest_for_customers(conn, &self.customers, EventKind::MessageSeen, 20)?;
        let latest = receipts
            .iter()
            .find(|seen| seen.payload["by"] == "agent" && self.may_see_ticket(ticket_of(&seen.payload["ticket_id"])));
        if let Some(seen) = latest {
            frames.push(json!({"type": "seen", "position": head.to_string(), "by": "agent", "message_id": seen.payload["message_id"]}));
        }
        Ok(frames)
    }
}

fn ticket_of(value: &Value) -> Option<TicketId> {
    value.as_str().and_then(|t| t.parse().ok())
}

/// What a visitor sees of a message (as events carry it): no placement reasons, no
/// envelope, no internals.
fn view(message: &Value, agent_name: Option<String>) -> Value {
    let mut shown = base_view(message, agent_name);
    if message["details"]["automated"] == "csat_survey"
        && let Some(link) = message["text"].as_str().and_then(survey_link)
    {
        // The widget shows a survey as two rating buttons.
        shown["survey"] = json!({"good": format!("{link}?rating=good"), "bad": format!("{link}?rating=bad")});
    }
    shown
}

/// The survey page's address in a survey message: `http(s)://…/csat/v1/<token>`.
fn survey_link(text: &str) -> Option<&str> {
    let at = text.find("/csat/v1/")?;
    let start = text[..at].rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let end = at + text[at..].find(|c: char| c.is_whitespace() || c == '?').unwrap_or(text.len() - at);
    let link = &text[start..end];
    (link.starts_with("https://") || link.starts_with("http://")).then_some(link)
}

fn base_view(message: &Value, agent_name: Option<String>) -> Value {
    let client_msg_id = message["channel_ref"]
        .as_str()
        .filter(|_| message["direction"] == "inbound" && message["channel"] == "chat")
        .and_then(|r| r.rsplit_once(':').map(|(_, id)| id.to_owned()));
    json!({
        "id": message["id"],
        "ticket_id": message["ticket_id"],
        "direction": message["direction"],
        "channel": message["channel"],
        "author": {"kind": message["author"].get("kind").unwrap_or(&message["author_kind"]), "name": agent_name},
        "text": message["text"],
        "created_at": message["created_at"],
        "client_msg_id": client_msg_id,
        "delivery_state": message["delivery_state"],
        "sent_via": message["sent_via"],
    })
}

/// A stored message as the visitor sees it (the answer to a send).
pub fn message_view(message: &Message) -> Value {
    view(&braid_db::messages::shown(message).unwrap_or_default(), None)
}

/// Pages of events a reconnect replays; further behind, the visitor gets their history
/// again instead (a `reset`): bounded work whatever `after` says.
const REPLAY_PAGES: usize = 10;
const PAGE: i64 = 500;

/// What a (re)connecting visitor is sent: the frames after `after`, or the history when
/// there is no `after` or it is too far behind or older than the log keeps (then `reset`
/// is true); and the position
/// to follow from. The log's head is read before the visitor's state, so following from
/// it misses nothing.
pub fn catch_up(
    conn: &mut DbConn,
    visitor: Visitor,
    after: Option<Position>,
) -> Result<(Reader, Vec<Value>, Position, bool), DbError> {
    let head = braid_db::events::head(conn)?;
    let kept_after = braid_db::events::pruned_through(conn)?;
    let mut reader = Reader::load(conn, visitor)?;
    if let Some(after) = after.filter(|after| *after <= head && *after >= kept_after)
        && let Some((frames, last)) = replay(conn, &mut reader, after)?
    {
        return Ok((reader, frames, last.max(head), false));
    }
    let frames = reader.history(conn, head)?;
    Ok((reader, frames, head, after.is_some()))
}

/// The frames after `after`, or `None` past [`REPLAY_PAGES`]; and where it stopped.
fn replay(
    conn: &mut DbConn,
    reader: &mut Reader,
    mut after: Position,
) -> Result<Option<(Vec<Value>, Position)>, DbError> {
    let mut frames = Vec::new();
    for _ in 0..REPLAY_PAGES {
        if reader.customers.is_empty() {
            return Ok(Some((frames, after)));
        }
        let events = braid_db::events::since_for_customers(conn, &reader.customers, Some(after), PAGE)?;
        let full = events.len() as i64 == PAGE;
        if let Some(last) = events.last() {
            after = last.position;
        }
        let events: Vec<_> = events.into_iter().map(std::sync::Arc::new).collect();
        frames.extend(reader.frames(conn, &events)?);
        if !full {
            return Ok(Some((frames, after)));
        }
    }
    Ok(None)
}
