//! Notes about a customer (not about a ticket): what an agent wants the next one to know.

use serde::Serialize;

use crate::InvalidValue;

/// Notes one customer may have. Every note is kept until deleted and a merge copies them
/// all; a thousand is years of an account manager's remarks, more is a script.
pub const MAX_PER_CUSTOMER: usize = 1000;

/// A note's text: 1 to 10,000 characters, trimmed, `\r\n` as `\n`; newlines and tabs are
/// the only control characters. Direction marks and zero-width characters stay: notes are
/// prose pasted from mail and documents, in every script, as message text is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NoteBody(String);

impl NoteBody {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        Ok(Self(crate::text::multiline("body", input, Self::MAX_CHARS)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_trimmed_bounded_text() {
        assert_eq!(
            NoteBody::parse("  Prefers phone.\r\nCalls after 5. ").unwrap().as_str(),
            "Prefers phone.\nCalls after 5."
        );
        assert!(NoteBody::parse(&"é".repeat(10_000)).is_ok());
        assert!(NoteBody::parse("שלום \u{200F}עולם").is_ok(), "direction marks belong to the text");
        for bad in ["", "   ", "a\0b", "a\u{7}", &"x".repeat(10_001)] {
            assert_eq!(NoteBody::parse(bad).unwrap_err().field, "body", "{bad:?}");
        }
    }
}
