//! Typed ids. Every record has a UUID v7 id: time-ordered, so ids sort roughly by
//! creation and make good keyset cursors, and globally unique across nodes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidValue;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| InvalidValue::new($field, format!("`{s}` is not a UUID")))
            }
        }
    };
}

id_type!(
    /// A person who contacts support.
    CustomerId, "customer_id"
);
id_type!(
    /// One way of reaching a customer: an email address, a phone, a chat visitor.
    IdentityId, "identity_id"
);
id_type!(
    /// A customer's whole history; exactly one per customer.
    ThreadId, "thread_id"
);
id_type!(
    /// A unit of work inside a thread.
    TicketId, "ticket_id"
);
id_type!(
    /// One merge of two customers, kept so it can be undone.
    MergeId, "merge_id"
);
id_type!(
    /// A suggestion that two customers are one person.
    SuggestionId, "suggestion_id"
);
id_type!(
    /// A note about a customer.
    NoteId, "note_id"
);
id_type!(
    /// One message on one channel.
    MessageId, "message_id"
);
id_type!(
    /// A person who works tickets.
    AgentId, "agent_id"
);
id_type!(
    /// A group of agents tickets can be routed to.
    TeamId, "team_id"
);
id_type!(
    /// A pending outbound delivery.
    OutboxId, "outbox_id"
);
id_type!(
    /// A website that embeds the chat widget.
    SiteId, "site_id"
);
id_type!(
    /// One browser's visitor on a chat site.
    VisitorId, "visitor_id"
);
id_type!(
    /// An outbound webhook endpoint.
    WebhookId, "webhook_id"
);
id_type!(
    /// A web form a website posts to.
    FormId, "form_id"
);
id_type!(
    /// A registered connector: an integration that brings its own channel.
    ConnectorId, "connector_id"
);
id_type!(
    /// Business hours: a time zone, working windows and holidays, with their versions.
    ScheduleId, "schedule_id"
);
id_type!(
    /// A service-level policy: which tickets it covers and the targets it sets them.
    SlaPolicyId, "sla_policy_id"
);
id_type!(
    /// A macro: typed actions an agent applies to a ticket in one step.
    MacroId, "macro_id"
);
id_type!(
    /// A satisfaction survey: one per solve of a ticket.
    SurveyId, "survey_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = TicketId::new();
        assert_eq!(id.to_string().parse::<TicketId>(), Ok(id));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = MessageId::new();
        let second = MessageId::new();
        assert!(first < second);
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn garbage_is_not_an_id() {
        let err = "nope".parse::<CustomerId>().unwrap_err();
        assert_eq!(err.field, "customer_id");
    }
}
