//! Connectors: integrations that bring their own channel (an SMS bridge, a marketplace's
//! messages, an old helpdesk being imported). A connector's name is the namespace of its
//! customers' ids (`external:<name>`); its messages, customers and tickets are known by
//! the connector's own ids.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::InvalidValue;
use crate::customer::is_slug;

/// A connector's name: 1 to 64 of `a-z 0-9 - _`, unique. It names the connector in its
/// routes (`/v1/connectors/{name}/…`) and its identities (`external:<name>`), a namespace
/// it shares with no chat site (their signed users are `external:<slug>` too) and none
/// Braid reserves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ConnectorName(String);

impl ConnectorName {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        if !is_slug(text) {
            return Err(InvalidValue::new("name", "1 to 64 characters of a-z, 0-9, `-` and `_`"));
        }
        if crate::customer::RESERVED_NAMESPACES.contains(&text) {
            return Err(InvalidValue::new("name", format!("`{text}` is reserved")));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity kind its customers' ids are kept under.
    pub fn identity_kind(&self) -> crate::IdentityKind {
        crate::IdentityKind::External(self.0.clone())
    }
}

impl fmt::Display for ConnectorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest external id taken, in bytes.
pub const MAX_EXTERNAL_ID: usize = 255;

/// A connector's own id for something (a message, a ticket, a conversation): 1 to 255
/// bytes, no control characters, kept as given.
pub fn external_id(field: &'static str, text: &str) -> Result<String, InvalidValue> {
    if text.is_empty() || text.len() > MAX_EXTERNAL_ID || text.chars().any(char::is_control) || text.trim() != text {
        return Err(InvalidValue::new(
            field,
            format!("1 to {MAX_EXTERNAL_ID} bytes, without control characters or surrounding spaces"),
        ));
    }
    Ok(text.to_owned())
}

/// How far ahead of our clock a connector's `sent_at` may be (its clock may run fast).
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// When a message a connector says was sent at `sent_at` is recorded: then (an import
/// keeps its history's times), never after `now`. A time further ahead than the clock
/// skew is a mistake, refused.
pub fn recorded_at(sent_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidValue> {
    match sent_at {
        None => Ok(now),
        Some(at) if at > now + CLOCK_SKEW => {
            Err(InvalidValue::new("sent_at", "is in the future; send the time the message was sent"))
        }
        Some(at) if at.timestamp() < 0 => Err(InvalidValue::new("sent_at", "is before 1970")),
        Some(at) => Ok(at.min(now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_slugs() {
        assert!(ConnectorName::parse("whatsapp-eu_2").is_ok());
        for bad in ["", "WhatsApp", "what sapp", "x/y", &"a".repeat(65), "unknown-sender"] {
            assert!(ConnectorName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_ids_are_kept_as_given_within_bounds() {
        assert_eq!(external_id("external_id", "wamid.HBgL==").unwrap(), "wamid.HBgL==");
        for bad in ["", " x", "x ", "a\nb", &"a".repeat(256)] {
            assert!(external_id("external_id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sent_at_keeps_history_and_refuses_the_future() {
        let now = Utc::now();
        let old = now - Duration::days(400);
        assert_eq!(recorded_at(Some(old), now).unwrap(), old);
        assert_eq!(recorded_at(None, now).unwrap(), now);
        assert_eq!(recorded_at(Some(now + Duration::minutes(1)), now).unwrap(), now);
        assert!(recorded_at(Some(now + Duration::hours(1)), now).is_err());
    }
}
