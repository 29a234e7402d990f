//! Customers are known by their identities: `(kind, value)` pairs, normalised so the same
//! address or number typed two ways is one identity, and globally unique.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{InvalidValue, text_enum};

/// An email address, case-folded. Mail systems treat the local part as case-sensitive in
/// theory and never in practice; folding it is what makes `Ana@X.org` and `ana@x.org` one
/// customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let trimmed = input.trim();
        if !email_address::EmailAddress::is_valid(trimmed) || !trimmed.contains('@') {
            return Err(InvalidValue::new("email", format!("`{trimmed}` is not an email address")));
        }
        // The crate accepts display forms like `Name <a@b>`; an identity is the bare address.
        if trimmed.contains(['<', '>', ' ']) {
            return Err(InvalidValue::new("email", format!("`{trimmed}` is not a bare email address")));
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+14155550123`). Only international input is accepted:
/// without a country code a number is ambiguous, and guessing would merge strangers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let trimmed = input.trim();
        let invalid = || {
            InvalidValue::new(
                "phone",
                format!("`{trimmed}` is not a valid international phone number (like +14155550123)"),
            )
        };
        if !trimmed.starts_with('+') && !trimmed.starts_with("00") {
            return Err(invalid());
        }
        let international = trimmed.strip_prefix("00").map_or_else(|| trimmed.to_owned(), |rest| format!("+{rest}"));
        let number = phonenumber::parse(None, &international).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's name: one line, at most 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CustomerName(String);

impl CustomerName {
    pub const MAX_CHARS: usize = 200;

    /// `Ok(None)` for a blank name: a customer may have none.
    pub fn parse(input: &str) -> Result<Option<Self>, InvalidValue> {
        if input.chars().any(|c| c.is_control() && !c.is_whitespace()) || input.contains('\0') {
            return Err(InvalidValue::new("name", "a name cannot contain control characters"));
        }
        if input.chars().any(crate::text::disguises) {
            return Err(InvalidValue::new("name", "a name cannot contain direction overrides or zero-width spaces"));
        }
        let name = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Ok(None);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new("name", format!("a name is at most {} characters", Self::MAX_CHARS)));
        }
        Ok(Some(Self(name)))
    }

    /// Never fails: what a sender's mail client or a form says, cleaned up, or nothing.
    pub fn from_inbound(input: &str) -> Option<Self> {
        let clean: String = input
            .chars()
            .filter(|&c| (!c.is_control() || c.is_whitespace()) && !crate::text::disguises(c))
            .take(Self::MAX_CHARS * 2)
            .collect();
        let name = clean.split_whitespace().collect::<Vec<_>>().join(" ");
        (!name.is_empty()).then(|| Self(name.chars().take(Self::MAX_CHARS).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name case-folded, for case-insensitive prefix search in every language.
    pub fn search_key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// What kind of handle an identity is. Connector identities carry the connector's name,
/// so `external:zendesk` and `external:whatsapp` ids never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    Email,
    Phone,
    ChatVisitor,
    External(String),
}

impl IdentityKind {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        match input {
            "email" => Ok(Self::Email),
            "phone" => Ok(Self::Phone),
            "chat_visitor" => Ok(Self::ChatVisitor),
            other => match other.strip_prefix("external:") {
                Some(connector) if is_slug(connector) => Ok(Self::External(connector.to_owned())),
                _ => Err(InvalidValue::new(
                    "kind",
                    format!(
                        "`{other}` is not one of: email, phone, chat_visitor, external:<connector> \
                         (connector: lower-case letters, digits, `-` and `_`)"
                    ),
                )),
            },
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            Self::Email => "email".to_owned(),
            Self::Phone => "phone".to_owned(),
            Self::ChatVisitor => "chat_visitor".to_owned(),
            Self::External(connector) => format!("external:{connector}"),
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl Serialize for IdentityKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for IdentityKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `external:` namespaces Braid keeps for itself: mail no parser could read is filed under
/// `external:unknown-sender`. No chat site or connector may take one.
pub const RESERVED_NAMESPACES: &[&str] = &["unknown-sender"];

pub(crate) fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A normalised identity: the pair the database keeps unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IdentityValue {
    pub kind: IdentityKind,
    pub value: String,
}

impl IdentityValue {
    /// Identities one customer may have: people have a few addresses, phones and
    /// browsers; hundreds are a script, and every look-up of the customer reads them all.
    pub const MAX_PER_CUSTOMER: usize = 50;

    /// Validates and normalises `value` for `kind`: emails case-folded, phones to E.164,
    /// visitor and external ids kept as given but trimmed and bounded.
    pub fn parse(kind: IdentityKind, value: &str) -> Result<Self, InvalidValue> {
        let value = match &kind {
            IdentityKind::Email => EmailAddress::parse(value)?.0,
            IdentityKind::Phone => PhoneNumber::parse(value)?.0,
            IdentityKind::ChatVisitor | IdentityKind::External(_) => {
                let trimmed = value.trim();
                if trimmed.is_empty() || trimmed.len() > 255 || trimmed.chars().any(char::is_control) {
                    return Err(InvalidValue::new(
                        "value",
                        "an id must be 1 to 255 characters with no control characters",
                    ));
                }
                trimmed.to_owned()
            }
        };
        Ok(Self { kind, value })
    }

    pub fn email(address: &EmailAddress) -> Self {
        Self { kind: IdentityKind::Email, value: address.0.clone() }
    }

    pub fn phone(number: &PhoneNumber) -> Self {
        Self { kind: IdentityKind::Phone, value: number.0.clone() }
    }
}

/// How much an identity is worth. Only a `verified` link may ever merge two customers or
/// show a visitor their history; a `claimed` one was merely typed into a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    Verified,
    Claimed,
}

text_enum!(Trust, "trust", { Verified => "verified", Claimed => "claimed" });

/// How an identity's trust was earned (or, for a claim, where the claim came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustSource {
    /// Its owner answered a mail we sent to the address.
    EmailRoundTrip,
    /// A token signed by the customer's own backend named it (the chat widget).
    SignedToken,
    /// An agent vouched for it or typed it.
    Agent,
    /// A connector (an API key's integration) gave it.
    Connector,
    /// Typed into a web form or a pre-chat field.
    Form,
    /// Present before trust sources were recorded, or imported in bulk.
    Imported,
    /// The address a message came from: the channel says so, nothing proves it.
    Sender,
}

text_enum!(TrustSource, "trust_source", {
    EmailRoundTrip => "email_round_trip", SignedToken => "signed_token", Agent => "agent",
    Connector => "connector", Form => "form", Imported => "imported", Sender => "sender",
});

impl Trust {
    /// Two claims of the same identity keep the stronger one.
    pub fn strongest(self, other: Trust) -> Trust {
        if self == Trust::Verified || other == Trust::Verified { Trust::Verified } else { Trust::Claimed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_case_folded_and_trimmed() {
        let email = EmailAddress::parse("  Ana.Lima@Example.ORG ").unwrap();
        assert_eq!(email.as_str(), "ana.lima@example.org");
        assert_eq!(email.domain(), "example.org");
    }

    #[test]
    fn things_that_are_not_emails_are_refused() {
        for bad in ["", "ana", "@example.org", "ana@", "Ana <ana@example.org>", "a b@example.org"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        for input in ["+1 415 555 0132", "+1 (415) 555-0132", "0014155550132", "+14155550132"] {
            assert_eq!(PhoneNumber::parse(input).unwrap().as_str(), "+14155550132", "{input}");
        }
        assert_eq!(PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
    }

    #[test]
    fn national_and_invalid_phones_are_refused() {
        for bad in ["415 555 0132", "+1 555", "+999 1234", "call me", ""] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn identity_kinds_parse_and_print_the_same() {
        for text in ["email", "phone", "chat_visitor", "external:zendesk"] {
            assert_eq!(IdentityKind::parse(text).unwrap().to_string(), text);
        }
        for bad in ["sms", "external:", "external:Zen Desk", "EMAIL"] {
            assert!(IdentityKind::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn identity_values_normalise_by_kind() {
        let email = IdentityValue::parse(IdentityKind::Email, "BOB@x.io").unwrap();
        assert_eq!(email.value, "bob@x.io");
        let visitor = IdentityValue::parse(IdentityKind::ChatVisitor, " v-123 ").unwrap();
        assert_eq!(visitor.value, "v-123");
        assert!(IdentityValue::parse(IdentityKind::ChatVisitor, "  ").is_err());
        assert!(IdentityValue::parse(IdentityKind::External("crm".into()), "a\nb").is_err());
    }

    #[test]
    fn names_are_one_line_and_blank_is_none() {
        assert_eq!(CustomerName::parse("  Ana \n Lima ").unwrap().unwrap().as_str(), "Ana Lima");
        assert_eq!(CustomerName::parse("   ").unwrap(), None);
        assert!(CustomerName::parse("a\0b").is_err());
        assert!(CustomerName::parse("a\u{7}b").is_err());
        assert!(CustomerName::parse(&"x".repeat(201)).is_err());
        assert_eq!(CustomerName::parse("Élodie").unwrap().unwrap().search_key(), "élodie");
        assert_eq!(CustomerName::from_inbound("Bo\0b\u{7} ").unwrap().as_str(), "Bob");
        assert_eq!(CustomerName::from_inbound("\0"), None);
        assert!(CustomerName::parse("Ana\u{202E}amiL").is_err());
        assert_eq!(CustomerName::from_inbound("Ana\u{202E} Lima\u{200B}").unwrap().as_str(), "Ana Lima");
        assert_eq!(CustomerName::from_inbound("\u{200B}"), None);
    }

    #[test]
    fn verified_wins_over_claimed() {
        assert_eq!(Trust::Claimed.strongest(Trust::Verified), Trust::Verified);
        assert_eq!(Trust::Claimed.strongest(Trust::Claimed), Trust::Claimed);
        assert_eq!("verified".parse::<Trust>(), Ok(Trust::Verified));
    }
}
