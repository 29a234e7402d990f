//! Tickets: units of work inside a thread, with a human number, a status machine,
//! a priority, tags and a subject.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{InvalidValue, text_enum};

/// Where a ticket stands. `open`, `pending` and `on_hold` are unsolved: work remains.
/// `closed` is terminal; a customer writing about a closed ticket starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Pending,
    OnHold,
    Solved,
    Closed,
}

text_enum!(TicketStatus, "status", {
    Open => "open", Pending => "pending", OnHold => "on_hold", Solved => "solved", Closed => "closed",
});

impl TicketStatus {
    pub fn is_unsolved(self) -> bool {
        matches!(self, Self::Open | Self::Pending | Self::OnHold)
    }

    /// Whether an agent (or a rule) may move a ticket from `self` to `to`. Staying put is
    /// always allowed; a closed ticket never moves, and only a solved ticket can close.
    pub fn can_transition_to(self, to: TicketStatus) -> bool {
        use TicketStatus::*;
        match (self, to) {
            (from, to) if from == to => true,
            (Closed, _) => false,
            (_, Closed) => self == Solved,
            (Solved, Open) => true,
            (Solved, _) => false,
            (_, Open | Pending | OnHold | Solved) => true,
        }
    }

    /// The status after the customer writes again: a ticket waiting on them (`pending`)
    /// or believed done (`solved`) needs an agent again; `on_hold` waits on a third party,
    /// which the customer's message does not change.
    pub fn on_customer_message(self) -> TicketStatus {
        match self {
            Self::Pending | Self::Solved => Self::Open,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

text_enum!(Priority, "priority", { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" });

/// The human ticket number, `#1042`. Unique across the installation and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(i64);

impl TicketNumber {
    /// Numbers start here, so the first ticket does not look like a test (`#1`).
    pub const FIRST: TicketNumber = TicketNumber(1000);

    pub fn new(number: i64) -> Result<Self, InvalidValue> {
        if number < 1 {
            return Err(InvalidValue::new("number", "a ticket number is a positive integer"));
        }
        Ok(Self(number))
    }

    /// Reads `#1042` or `1042`.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let digits = input.trim().trim_start_matches('#');
        digits
            .parse::<i64>()
            .map_err(|_| InvalidValue::new("number", format!("`{input}` is not a ticket number")))
            .and_then(Self::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A ticket subject: one line, trimmed, at most 255 characters. Inbound messages often
/// carry no subject or an absurd one; `from_inbound` turns those into something listable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        if input.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(InvalidValue::new("subject", "a subject cannot contain control characters"));
        }
        let clean = one_line(input);
        if clean.is_empty() {
            return Err(InvalidValue::new("subject", "a subject cannot be empty"));
        }
        if clean.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new("subject", format!("a subject is at most {} characters", Self::MAX_CHARS)));
        }
        Ok(Self(clean))
    }

    /// Never fails: empty becomes `(no subject)`, long is cut at a character boundary.
    pub fn from_inbound(input: Option<&str>) -> Self {
        let clean = one_line(input.unwrap_or_default());
        if clean.is_empty() {
            return Self("(no subject)".to_owned());
        }
        Self(clean.chars().take(Self::MAX_CHARS).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whitespace runs become one space; control characters go (NUL cannot even be stored).
fn one_line(input: &str) -> String {
    input.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A tag: lower-case letters, digits, `-`, `_` and `:`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl TryFrom<String> for Tag {
    type Error = InvalidValue;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<Tag> for String {
    fn from(tag: Tag) -> String {
        tag.0
    }
}

impl Tag {
    /// Tags one ticket may carry (every list of tickets returns them all).
    pub const MAX_PER_TICKET: usize = 50;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let tag = input.trim().to_lowercase();
        let valid = !tag.is_empty()
            && tag.len() <= 64
            && tag.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':'));
        if !valid {
            return Err(InvalidValue::new(
                "tags",
                format!("`{input}` is not a tag (letters, digits, `-`, `_`, `:`; at most 64)"),
            ));
        }
        Ok(Self(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketStatus::*;

    #[test]
    fn every_status_may_stay_where_it_is() {
        for &status in TicketStatus::ALL {
            assert!(status.can_transition_to(status));
        }
    }

    #[test]
    fn unsolved_statuses_move_freely_among_themselves_and_to_solved() {
        for from in [Open, Pending, OnHold] {
            for to in [Open, Pending, OnHold, Solved] {
                assert!(from.can_transition_to(to), "{from} -> {to}");
            }
            assert!(!from.can_transition_to(Closed), "{from} -> closed");
        }
    }

    #[test]
    fn solved_reopens_or_closes_and_closed_is_final() {
        assert!(Solved.can_transition_to(Open));
        assert!(Solved.can_transition_to(Closed));
        assert!(!Solved.can_transition_to(Pending));
        assert!(!Solved.can_transition_to(OnHold));
        for &to in TicketStatus::ALL {
            assert_eq!(Closed.can_transition_to(to), to == Closed, "closed -> {to}");
        }
    }

    #[test]
    fn a_customer_message_wakes_pending_and_solved_tickets() {
        assert_eq!(Pending.on_customer_message(), Open);
        assert_eq!(Solved.on_customer_message(), Open);
        assert_eq!(Open.on_customer_message(), Open);
        assert_eq!(OnHold.on_customer_message(), OnHold);
    }

    #[test]
    fn statuses_and_priorities_read_their_own_spelling() {
        for &status in TicketStatus::ALL {
            assert_eq!(status.as_str().parse::<TicketStatus>(), Ok(status));
        }
        assert_eq!("urgent".parse::<Priority>(), Ok(Priority::Urgent));
        assert!("later".parse::<TicketStatus>().unwrap_err().message.contains("on_hold"));
    }

    #[test]
    fn ticket_numbers_read_with_or_without_hash() {
        assert_eq!(TicketNumber::parse("#1042").unwrap().get(), 1042);
        assert_eq!(TicketNumber::parse("1042").unwrap().to_string(), "#1042");
        assert!(TicketNumber::parse("#0").is_err());
        assert!(TicketNumber::parse("#abc").is_err());
    }

    #[test]
    fn subjects_are_one_trimmed_line() {
        assert_eq!(Subject::parse("  Refund\n  please ").unwrap().as_str(), "Refund please");
        assert!(Subject::parse(" \n ").is_err());
        assert!(Subject::parse(&"x".repeat(256)).is_err());
        assert!(Subject::parse("a\0b").is_err());
        assert_eq!(Subject::from_inbound(Some("a\0b")).as_str(), "a b");
        assert_eq!(Subject::from_inbound(None).as_str(), "(no subject)");
        assert_eq!(Subject::from_inbound(Some(&"é".repeat(300))).as_str().chars().count(), 255);
    }

    #[test]
    fn tags_are_lower_case_slugs() {
        assert_eq!(Tag::parse(" VIP ").unwrap().as_str(), "vip");
        assert_eq!(Tag::parse("billing:refund").unwrap().as_str(), "billing:refund");
        assert!(Tag::parse("two words").is_err());
        assert!(Tag::parse("").is_err());
    }
}
