//! The connector channel (`api`): a connector's message as placement takes it, and the
//! callback that carries an agent's reply back to the connector.
//!
//! A connector message's channel reference is `<connector name>:<external_id>`, and its
//! deduplication digest a digest of that alone: the connector's id for a message is the
//! message, so a replay (a retry after a timeout, a re-run import) answers the first
//! placement whatever it carries.
//!
//! Callbacks are signed and retried exactly as webhooks are ([`crate::webhooks::Sender`]):
//! the same headers, the same address rules, the same schedule.

use braid_core::placement::{Authorship, ReferenceSource};
use braid_core::{Channel, ConnectorId, CustomerName, IdentityValue, TicketId, Trust, TrustSource};
use braid_db::placement::{Conversation, FollowUps, Inbound, InboundReference, ReferenceTarget};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// A connector's message, checked.
#[derive(Debug, Clone)]
pub struct Message {
    pub connector: ConnectorId,
    pub connector_name: String,
    pub external_id: String,
    /// The sender: the connector's customer (`external:<name>`).
    pub sender: IdentityValue,
    pub sender_name: Option<CustomerName>,
    /// The conversation it came in, and the ticket that conversation went to last (none
    /// for its first message).
    pub conversation: Option<(String, Option<TicketId>)>,
    /// The connector's ticket it belongs to, and the ticket that is.
    pub ticket: Option<(String, TicketId)>,
    pub text: String,
    /// Sanitised already.
    pub html: Option<String>,
    /// Files uploaded first (`POST /v1/attachments`), as the message's details list them.
    pub attachments: Vec<serde_json::Value>,
    pub sent_at: DateTime<Utc>,
}

/// A connector message's channel reference and deduplication digest.
pub fn reference(connector_name: &str, external_id: &str) -> (String, String) {
    let channel_ref = format!("{connector_name}:{external_id}");
    let digest = Sha256::digest(channel_ref.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    (channel_ref, digest)
}

/// The message as placement takes it.
pub fn inbound(message: Message) -> Inbound {
    let (channel_ref, digest) = reference(&message.connector_name, &message.external_id);
    let mut references = Vec::new();
    if let Some((external, ticket)) = &message.ticket {
        references.push(InboundReference {
            source: ReferenceSource::Api,
            detail: format!("ticket {external}"),
            target: ReferenceTarget::Ticket(*ticket),
        });
    }
    if let Some((external, Some(ticket))) = &message.conversation {
        references.push(InboundReference {
            source: ReferenceSource::Conversation,
            detail: format!("conversation {external}"),
            target: ReferenceTarget::Ticket(*ticket),
        });
    }
    let mut details = serde_json::json!({
        "connector": message.connector_name,
        "connector_id": message.connector,
        "external_id": message.external_id,
    });
    if let Some((conversation, _)) = &message.conversation {
        details["conversation_ref"] = conversation.clone().into();
    }
    if let Some((ticket, _)) = &message.ticket {
        details["ticket_external_id"] = ticket.clone().into();
    }
    if !message.attachments.is_empty() {
        details["attachments"] = message.attachments.clone().into();
    }
    let conversation = message
        .conversation
        .as_ref()
        .map(|(external_id, _)| Conversation { connector: message.connector, external_id: external_id.clone() });
    Inbound {
        channel: Channel::Api,
        channel_ref: Some(channel_ref),
        content_digest: digest,
        noted: vec![],
        // No acknowledgement: the connector's own channel answers its users, and an
        // import must not write to anyone.
        follow_ups: FollowUps { conversation, ..FollowUps::default() },
        echo: false,
        sender: message.sender,
        // The connector authenticated with its key: its ids are its own to vouch for.
        sender_trust: Trust::Verified,
        sender_source: TrustSource::Connector,
        sender_name: message.sender_name,
        language: None,
        utc_offset: None,
        subject: Some(braid_core::text::first_line(&message.text, 80, "Message")),
        text: message.text,
        html: message.html,
        references,
        authorship: Authorship::Person,
        details,
        original: None,
        received_at: message.sent_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_core::IdentityKind;

    fn message(external_id: &str, text: &str) -> Message {
        Message {
            connector: ConnectorId::new(),
            connector_name: "sms".into(),
            external_id: external_id.into(),
            sender: IdentityValue::parse(IdentityKind::External("sms".into()), "+4915100000").unwrap(),
            sender_name: None,
            conversation: Some(("thread-1".into(), None)),
            ticket: None,
            text: text.into(),
            html: None,
            attachments: vec![],
            sent_at: Utc::now(),
        }
    }

    #[test]
    fn the_same_external_id_is_the_same_message_whatever_it_carries() {
        let (first, replay, other) =
            (inbound(message("m-1", "Hi")), inbound(message("m-1", "Hi!")), inbound(message("m-2", "Hi")));
        assert_eq!(first.channel_ref.as_deref(), Some("sms:m-1"));
        assert_eq!(first.content_digest, replay.content_digest);
        assert_ne!(first.content_digest, other.content_digest);
    }

    #[test]
    fn a_conversation_is_a_reference_and_follows_the_chosen_ticket() {
        let first = inbound(message("m-1", "Hello\nsecond line"));
        assert!(first.references.is_empty(), "a conversation's first message names no ticket");
        let ticket = TicketId::new();
        let placed =
            inbound(Message { conversation: Some(("thread-1".into(), Some(ticket))), ..message("m-2", "Hello") });
        assert_eq!(placed.references[0].source, ReferenceSource::Conversation);
        assert_eq!(placed.references[0].target, ReferenceTarget::Ticket(ticket));
        assert_eq!(placed.follow_ups.conversation.map(|c| c.external_id), Some("thread-1".into()));
        assert_eq!(placed.subject.as_deref(), Some("Hello"));
        assert!(placed.follow_ups.acknowledgement.is_none());
    }
}
