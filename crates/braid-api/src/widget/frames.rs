//! What a visitor is sent: the events of their customer they may read, as frames. The
//! socket and `GET /widget/v1/messages` send the same frames, so the widget has one
//! reader for both.

use std::collections::HashMap;

use braid_core::chat::History;
use braid_core::{AgentId, Channel, CustomerId, Direction, EventKind, IdentityId, ThreadId, TicketId};
use braid_db::chat::visitors::{self, Visitor};
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
    pub own: Vec<TicketId>,
    names: HashMap<AgentId, Option<String>>,
}

impl Reader {
    pub fn load(conn: &mut DbConn, visitor: Visitor) -> Result<Self, DbError> {
        let mut reader = Reader { visitor, customer: None, own: vec![], names: HashMap::new() };
        reader.refresh(conn)?;
        Ok(reader)
    }

    /// Reads the customer again (after a merge moved the visitor, or their first message
    /// made them one).
    pub fn refresh(&mut self, conn: &mut DbConn) -> Result<(), DbError> {
        self.customer = visitors::customer_of(conn, &self.visitor)?;
        self.own = match self.customer {
            Some((_, thread, identity)) => visitors::own_tickets(conn, thread, identity)?,
            None => vec![],
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
                event.customer_id.as_deref() == Some(customer.to_string().as_str())
                    || matches!(event.kind, EventKind::CustomerMerged | EventKind::CustomerUnmerged)
                        && event.payload.to_string().contains(&customer.to_string())
            }
            // Not a customer yet: the visitor's first message makes one.
            None => event.kind == EventKind::CustomerCreated,
        }
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
                    let ticket = ticket_of(&event.payload);
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

    fn may_see_ticket(&self, ticket: Option<TicketId>) -> bool {
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
        let agent: Option<AgentId> = payload["author_agent_id"].as_str().and_then(|a| a.parse().ok());
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
            let payload = serde_json::to_value(&message)?;
            frames.push(json!({"type": "message", "position": head.to_string(), "message": view(&payload, name)}));
        }
        Ok(frames)
    }
}

fn ticket_of(value: &Value) -> Option<TicketId> {
    value.as_str().and_then(|t| t.parse().ok())
}

/// What a visitor sees of a message: no placement reasons, no envelope, no internals.
fn view(message: &Value, agent_name: Option<String>) -> Value {
    let client_msg_id = message["channel_ref"]
        .as_str()
        .filter(|_| message["direction"] == "inbound" && message["channel"] == "chat")
        .and_then(|r| r.rsplit_once(':').map(|(_, id)| id.to_owned()));
    json!({
        "id": message["id"],
        "ticket_id": message["ticket_id"],
        "direction": message["direction"],
        "channel": message["channel"],
        "author": {"kind": message["author_kind"], "name": agent_name},
        "text": message["text"],
        "created_at": message["created_at"],
        "client_msg_id": client_msg_id,
        "delivery_state": message["delivery_state"],
        "sent_via": message["sent_via"],
    })
}

/// A stored message as the visitor sees it (the answer to a send).
pub fn message_view(message: &Message) -> Value {
    view(&serde_json::to_value(message).unwrap_or_default(), None)
}
