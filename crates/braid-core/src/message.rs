//! What a message is: on which channel it came or goes, in which direction, from whom,
//! and for outbound messages, how far its delivery got.

use serde::{Deserialize, Serialize};

use crate::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    Failed,
}

text_enum!(DeliveryState, "delivery_state", {
    Queued => "queued", Sent => "sent", Delivered => "delivered", Failed => "failed",
});

#[cfg(test)]
mod tests {
    use super::*;

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
}
