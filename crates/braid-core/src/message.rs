//! What a message is: on which channel it came or goes, in which direction, from whom,
//! and for outbound messages, how far its delivery got.

use serde::{Deserialize, Serialize};

use crate::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Chat,
    WebForm,
    Api,
}

text_enum!(Channel, "channel", { Email => "email", Chat => "chat", WebForm => "web_form", Api => "api" });

/// `note` is internal: written by an agent, never sent to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    Note,
}

text_enum!(Direction, "direction", { Inbound => "inbound", Outbound => "outbound", Note => "note" });

/// Who wrote a message. Inbound messages are the customer's; automated ones (an
/// acknowledgement, a bounce notice) are the system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Customer,
    Agent,
    System,
}

text_enum!(AuthorKind, "author_kind", { Customer => "customer", Agent => "agent", System => "system" });

/// Delivery of an outbound message. `delivered` is only set when the channel confirms it
/// (a chat read receipt, a provider's delivery event); `sent` means handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    Sent,
    Delivered,
    /// The recipient read it (a connector's read receipt).
    Read,
    Failed,
}

text_enum!(DeliveryState, "delivery_state", {
    Queued => "queued", Sent => "sent", Delivered => "delivered", Read => "read", Failed => "failed",
});

impl DeliveryState {
    /// Whether a message in this state may move to `next`. States only move forward:
    /// `queued` → `sent` → `delivered` → `read`, skipping steps allowed; `failed` is
    /// reachable until the message was delivered, and final.
    pub fn may_become(self, next: DeliveryState) -> bool {
        use DeliveryState::*;
        let rank = |state: DeliveryState| match state {
            Queued => 0,
            Sent => 1,
            Delivered => 2,
            Read => 3,
            Failed => 4,
        };
        match (self, next) {
            (Failed, _) => false,
            (Queued | Sent, Failed) => true,
            (_, Failed) => false,
            _ => rank(next) > rank(self),
        }
    }

    /// The states that may move to `next`.
    pub fn before(next: DeliveryState) -> Vec<DeliveryState> {
        Self::ALL.iter().copied().filter(|state| state.may_become(next)).collect()
    }
}

/// The text of an acknowledgement for a new ticket: `{number}`, `{subject}` and `{name}`
/// (the sender's name, or "there") filled in from the ticket.
pub fn acknowledgement_text(template: &str, number: crate::TicketNumber, subject: &str, name: Option<&str>) -> String {
    template
        .replace("{number}", &number.get().to_string())
        .replace("{subject}", subject)
        .replace("{name}", name.unwrap_or("there"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_names_the_ticket_and_the_sender() {
        let number = crate::TicketNumber::new(1042).unwrap();
        let text = acknowledgement_text("Hi {name}, #{number} ({subject}) is ours.", number, "Refund", None);
        assert_eq!(text, "Hi there, #1042 (Refund) is ours.");
        assert_eq!(acknowledgement_text("{name}", number, "", Some("Ana")), "Ana");
    }

    #[test]
    fn every_variant_reads_its_own_spelling() {
        for &c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        for &d in Direction::ALL {
            assert_eq!(d.as_str().parse::<Direction>(), Ok(d));
        }
        for &s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>(), Ok(s));
        }
    }

    #[test]
    fn delivery_states_only_move_forward() {
        use DeliveryState::*;
        for (from, to) in [(Queued, Sent), (Queued, Read), (Sent, Delivered), (Delivered, Read), (Sent, Failed)] {
            assert!(from.may_become(to), "{from} → {to}");
        }
        for (from, to) in [(Sent, Queued), (Read, Delivered), (Delivered, Failed), (Failed, Sent), (Sent, Sent)] {
            assert!(!from.may_become(to), "{from} → {to}");
        }
        assert_eq!(DeliveryState::before(Failed), vec![Queued, Sent]);
    }
}
