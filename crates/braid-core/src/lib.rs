//! Braid's domain: the types a support conversation is made of and the rules that place
//! an inbound message. Pure: no database, no HTTP, no mail transport. Every other crate
//! builds on these types, and values here are validated once, at the edge, then trusted.

pub mod access;
pub mod agent;
pub mod attribute;
pub mod chat;
pub mod connector;
pub mod csat;
pub mod customer;
pub mod event;
pub mod follow_up;
pub mod form;
pub mod ids;
pub mod macros;
pub mod merge;
pub mod message;
pub mod note;
pub mod placement;
pub mod preferences;
pub mod routing;
pub mod schedule;
pub mod sla;
pub mod text;
pub mod ticket;
pub mod webhook;

pub use access::Scope;
pub use agent::{AgentName, Role};
pub use attribute::{AttributeKey, AttributeKind, AttributeLabel, ListOptions};
pub use customer::{CustomerName, EmailAddress, IdentityKind, IdentityValue, PhoneNumber, Trust, TrustSource};
pub use event::EventKind;
pub use ids::{
    AgentId, ConnectorId, CustomerId, FormId, IdentityId, MacroId, MergeId, MessageId, NoteId, OutboxId, ScheduleId,
    SiteId, SlaPolicyId, SuggestionId, SurveyId, TeamId, ThreadId, TicketId, VisitorId, WebhookId,
};
pub use message::{AuthorKind, Channel, DeliveryState, Direction};
pub use note::NoteBody;
pub use ticket::{Priority, Subject, Tag, TicketNumber, TicketStatus};

/// A value that failed validation, with what was wrong in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub message: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Implements `as_str`, `Display` and `FromStr` for a fieldless enum stored as text,
/// so the database, the JSON and the error messages all spell a variant the same way.
macro_rules! text_enum {
    ($name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::InvalidValue::new(
                        $field,
                        format!(
                            "`{other}` is not one of: {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}
pub(crate) use text_enum;
