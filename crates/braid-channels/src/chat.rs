//! The chat channel: a visitor's message as placement takes it.
//!
//! A chat message's channel reference is the visitor's own id for it (`client_msg_id`),
//! scoped to the visitor: `<visitor id>:<client_msg_id>`. Its deduplication digest is a
//! digest of that reference alone, so a retry of the same id (a reconnect resending what
//! got no answer) is the first message, whatever text it carries; a widget never reuses
//! an id for a different message.

use braid_core::placement::Authorship;
use braid_core::{Channel, CustomerName, IdentityValue, Trust, TrustSource, VisitorId};
use braid_db::placement::{FollowUps, Inbound};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The longest `client_msg_id` taken.
pub const MAX_CLIENT_ID: usize = 100;

/// Whether a widget's `client_msg_id` is usable: 1 to 100 printable ASCII characters.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_CLIENT_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A visitor's message, ready to place.
pub fn inbound(
    visitor: VisitorId,
    identity: &IdentityValue,
    verified: bool,
    name: Option<CustomerName>,
    client_msg_id: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Inbound {
    let channel_ref = format!("{visitor}:{client_msg_id}");
    let digest = Sha256::digest(channel_ref.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    Inbound {
        channel: Channel::Chat,
        channel_ref: Some(channel_ref),
        content_digest: digest,
        noted: vec![],
        follow_ups: FollowUps::default(),
        echo: false,
        sender: identity.clone(),
        sender_trust: if verified { Trust::Verified } else { Trust::Claimed },
        sender_source: if verified { TrustSource::SignedToken } else { TrustSource::Sender },
        sender_name: name,
        language: None,
        utc_offset: None,
        subject: Some(braid_core::text::first_line(text, 80, "Chat")),
        text: text.to_owned(),
        html: None,
        references: vec![],
        authorship: Authorship::Person,
        details: serde_json::json!({ "visitor_id": visitor }),
        original: None,
        received_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_client_id_is_the_same_message_whatever_its_text() {
        let (visitor, identity) =
            (VisitorId::new(), IdentityValue::parse(braid_core::IdentityKind::ChatVisitor, "v").unwrap());
        let first = inbound(visitor, &identity, false, None, "c-1", "Hello", Utc::now());
        let retry = inbound(visitor, &identity, false, None, "c-1", "Hello again", Utc::now());
        let other = inbound(VisitorId::new(), &identity, false, None, "c-1", "Hello", Utc::now());
        assert_eq!(first.content_digest, retry.content_digest);
        assert_ne!(first.content_digest, other.content_digest, "ids are per visitor");
        assert_eq!(first.subject.as_deref(), Some("Hello"));
    }

    #[test]
    fn client_ids_are_short_printable_ascii() {
        assert!(valid_client_id("c-0190f5c4-7a1b"));
        for bad in ["", "a b", "é", &"x".repeat(101), "a\0"] {
            assert!(!valid_client_id(bad), "{bad:?}");
        }
    }
}
