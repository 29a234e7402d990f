//! Satisfaction surveys (CSAT): the settings, the ratings, and the links a customer rates
//! with. A link carries a signed, single-purpose token naming the survey, its ticket, its
//! customer, the solve cycle it asks about and when it stops being accepted, so a link
//! cannot be made up, moved to another ticket, or used after its window.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{CustomerId, InvalidValue, SurveyId, TicketId, text_enum};

pub const MAX_DELAY_MINUTES: u32 = 7 * 24 * 60;
pub const MAX_WINDOW_DAYS: u32 = 30;
pub const MAX_COMMENT_CHARS: usize = 2000;
pub const MAX_QUESTION_CHARS: usize = 500;
/// The prefix every token starts with: agents' views of a message hide what follows it.
pub const TOKEN_PREFIX: &str = "csat1.";

/// What the customer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Good,
    Bad,
}

text_enum!(Rating, "rating", { Good => "good", Bad => "bad" });

/// What a bad rating does to close the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnBadRating {
    /// Reopens the ticket (when it is solved; a closed one gets a follow-up instead).
    Reopen,
    /// Opens a new ticket for the customer, on the same team, with the comment.
    #[default]
    FollowUp,
    /// Records the rating and does nothing more.
    Nothing,
}

text_enum!(OnBadRating, "on_bad_rating", { Reopen => "reopen", FollowUp => "follow_up", Nothing => "nothing" });

/// The installation's survey settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub enabled: bool,
    /// How long after a solve the survey goes out; a reopen before then cancels it.
    pub delay_minutes: u32,
    /// How long a rating can be given or changed after the survey went out.
    pub window_days: u32,
    pub on_bad_rating: OnBadRating,
    /// The question the survey asks.
    pub question: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: false,
            delay_minutes: 60,
            window_days: 7,
            on_bad_rating: OnBadRating::FollowUp,
            question: "How would you rate the support you received?".into(),
        }
    }
}

impl Settings {
    pub fn check(mut self) -> Result<Self, InvalidValue> {
        if self.delay_minutes > MAX_DELAY_MINUTES {
            return Err(InvalidValue::new("delay_minutes", format!("at most {MAX_DELAY_MINUTES} (a week)")));
        }
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            return Err(InvalidValue::new("window_days", format!("1 to {MAX_WINDOW_DAYS}")));
        }
        self.question = crate::text::multiline("question", &self.question, MAX_QUESTION_CHARS)?;
        Ok(self)
    }
}

/// A rating's comment: trimmed, at most 2,000 characters; blank is none.
pub fn comment(input: &str) -> Result<Option<String>, InvalidValue> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    crate::text::multiline("comment", input, MAX_COMMENT_CHARS).map(Some)
}

/// What a survey link names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "s")]
    pub survey: SurveyId,
    #[serde(rename = "t")]
    pub ticket: TicketId,
    #[serde(rename = "c")]
    pub customer: CustomerId,
    /// Which solve of the ticket it asks about: 1 for the first.
    #[serde(rename = "n")]
    pub cycle: i32,
    /// Unix seconds after which the link is refused.
    #[serde(rename = "e")]
    pub expires: i64,
}

/// Why a token was refused. Deliberately coarse: a caller learns nothing about which part
/// of a forged token was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this survey link is not valid")]
    Invalid,
    #[error("this survey has closed")]
    Expired,
}

/// Signs and checks survey links with one key (kept in the database, alike on every node).
#[derive(Clone)]
pub struct SurveyTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for SurveyTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SurveyTokens(..)")
    }
}

impl SurveyTokens {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(b"braid-csat-v1.");
        mac.update(payload.as_bytes());
        mac
    }

    /// `csat1.<claims>.<signature>`, URL-safe.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{TOKEN_PREFIX}{payload}.{signature}")
    }

    /// The claims of a token this key signed, while it is unexpired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.len() > 1024 {
            return Err(TokenError::Invalid);
        }
        let rest = token.strip_prefix(TOKEN_PREFIX).ok_or(TokenError::Invalid)?;
        let (payload, signature) = rest.split_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Invalid)?;
        // `verify_slice` compares in constant time.
        self.mac(payload).verify_slice(&signature).map_err(|_| TokenError::Invalid)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)?;
        if now.timestamp() > claims.expires {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The survey message: the question and one link per rating.
pub fn message_text(question: &str, link: &str) -> String {
    format!(
        "{question}\n\n👍 Good: {link}?rating=good\n👎 Bad: {link}?rating=bad\n\nYou can add a comment on the page."
    )
}

/// `text` with every survey token cut to its prefix: what agents see of a survey message,
/// so nobody but the customer holds a working link.
pub fn hide_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(TOKEN_PREFIX) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TOKEN_PREFIX) {
        let start = at + TOKEN_PREFIX.len();
        shown.push_str(&rest[..start]);
        shown.push('…');
        let tail = &rest[start..];
        let end =
            tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    shown.push_str(rest);
    std::borrow::Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            survey: SurveyId::new(),
            ticket: TicketId::new(),
            customer: CustomerId::new(),
            cycle: 1,
            expires: Utc::now().timestamp() + 3600,
        }
    }

    #[test]
    fn a_signed_link_verifies_and_names_what_it_was_made_for() {
        let tokens = SurveyTokens::new(b"key");
        let claims = claims();
        let token = tokens.sign(&claims);
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{token}");
        assert_eq!(tokens.verify(&token, Utc::now()), Ok(claims));
    }

    #[test]
    fn forged_moved_and_expired_links_are_refused() {
        let tokens = SurveyTokens::new(b"key");
        let claims = claims();
        let token = tokens.sign(&claims);
        assert_eq!(SurveyTokens::new(b"other").verify(&token, Utc::now()), Err(TokenError::Invalid));
        // Another ticket's claims under the same signature.
        let (_, signature) = token.rsplit_once('.').unwrap();
        let moved = Claims { ticket: TicketId::new(), ..claims.clone() };
        let forged = tokens.sign(&moved);
        let (forged_payload, _) = forged.rsplit_once('.').unwrap();
        assert_eq!(tokens.verify(&format!("{forged_payload}.{signature}"), Utc::now()), Err(TokenError::Invalid));
        for garbage in ["", "csat1.", "csat1..", "csat1.e30.", "nope", &"x".repeat(5000), "csat1.é.é"] {
            assert_eq!(tokens.verify(garbage, Utc::now()), Err(TokenError::Invalid), "{garbage}");
        }
        let late = Utc::now() + chrono::Duration::hours(2);
        assert_eq!(tokens.verify(&token, late), Err(TokenError::Expired));
    }

    #[test]
    fn agents_see_survey_messages_without_working_links() {
        let tokens = SurveyTokens::new(b"key");
        let token = tokens.sign(&claims());
        let text = message_text("How did we do?", &format!("https://help.example/csat/v1/{token}"));
        let hidden = hide_tokens(&text);
        assert!(!hidden.contains(&token[TOKEN_PREFIX.len()..]), "{hidden}");
        assert!(hidden.contains("https://help.example/csat/v1/csat1.…?rating=good"), "{hidden}");
        assert_eq!(hide_tokens("no links here"), "no links here");
        assert_eq!(hide_tokens("ends with csat1.abc"), "ends with csat1.…");
    }

    #[test]
    fn settings_are_bounded() {
        assert!(Settings::default().check().is_ok());
        assert!(Settings { window_days: 0, ..Settings::default() }.check().is_err());
        assert!(Settings { delay_minutes: MAX_DELAY_MINUTES + 1, ..Settings::default() }.check().is_err());
        assert!(Settings { question: " ".into(), ..Settings::default() }.check().is_err());
        assert_eq!(comment("  ").unwrap(), None);
        assert!(comment(&"x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
    }
}
