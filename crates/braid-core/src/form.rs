//! Web forms: the contact forms a website posts to Braid (`/forms/v1/{form_key}`). What a
//! form declares, which of a submission's fields mean what, and the spam rules a
//! submission passes before anything of it is stored.
//!
//! A submission's email is typed by whoever filled the form in: a claim, never a proof.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::InvalidValue;
use crate::customer::is_slug;

/// Extra fields one form may declare.
pub const MAX_FIELDS: usize = 20;
/// The longest value of a declared field, in characters.
pub const MAX_FIELD_CHARS: usize = 2_000;
/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 20_000;
/// The longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Fields a submission may carry at all (declared, standard, control and unknown ones): a
/// page's form has a few dozen at most.
pub const MAX_SUBMITTED_FIELDS: usize = 100;

/// The fill time asked of a new form: a person needs longer than this to type a message,
/// a bot posting the page at once does not take it.
pub const DEFAULT_MIN_FILL_SECS: u32 = 3;
/// The most a form may ask.
pub const MAX_MIN_FILL_SECS: u32 = 3_600;
/// How long a form token stays usable: a visitor may leave a tab open overnight.
pub const TOKEN_MAX_AGE: Duration = Duration::hours(24);
/// The honeypot field of a new form: Formspree's name, which many sites' forms have already.
pub const DEFAULT_HONEYPOT: &str = "_gotcha";

/// The field that carries the form token.
pub const TOKEN_FIELD: &str = "_token";
/// The fields that carry a captcha widget's answer: Cloudflare Turnstile's, hCaptcha's and
/// reCAPTCHA's. All three verify the same way (`secret`, `response`, `remoteip` posted to
/// the provider's `siteverify`, answering `{"success": …}`).
pub const CAPTCHA_FIELDS: &[&str] = &["cf-turnstile-response", "h-captcha-response", "g-recaptcha-response"];

/// The fields every form has, whatever a page names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    Name,
    Email,
    Subject,
    Message,
}

/// The standard field a submitted field name means. Pages name them after the form tool
/// they were built with: plain (`email`), Formspree (`_replyto`, `_subject`), Contact Form 7
/// (`your-email`), and a few common synonyms.
pub fn standard(name: &str) -> Option<Standard> {
    Some(match name.to_ascii_lowercase().as_str() {
        "name" | "your-name" | "full_name" | "fullname" | "full-name" => Standard::Name,
        "email" | "e-mail" | "mail" | "your-email" | "_replyto" | "reply_to" | "email_address" => Standard::Email,
        "subject" | "_subject" | "your-subject" | "topic" => Standard::Subject,
        "message" | "your-message" | "body" | "text" | "comments" | "comment" | "content" | "question" => {
            Standard::Message
        }
        _ => return None,
    })
}

/// A field a form declares beyond the standard ones (an order number, a product), kept
/// with the message as `details.fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// 1 to 64 of `a-z 0-9 - _`: the field's `name` in the page's form.
    pub name: String,
    #[serde(default)]
    pub required: bool,
}

/// A form's declared fields, checked: slugs, unique, none a standard or control field.
pub fn fields(input: Vec<FormField>) -> Result<Vec<FormField>, InvalidValue> {
    if input.len() > MAX_FIELDS {
        return Err(InvalidValue::new("fields", format!("at most {MAX_FIELDS} fields")));
    }
    for (i, field) in input.iter().enumerate() {
        if !is_slug(&field.name) {
            return Err(InvalidValue::new("fields", "a field's name is 1 to 64 of a-z, 0-9, `-` and `_`"));
        }
        if standard(&field.name).is_some() || field.name == TOKEN_FIELD || CAPTCHA_FIELDS.contains(&field.name.as_str())
        {
            return Err(InvalidValue::new("fields", format!("`{}` is a field every form has", field.name)));
        }
        if input[..i].iter().any(|f| f.name == field.name) {
            return Err(InvalidValue::new("fields", format!("`{}` is declared twice", field.name)));
        }
    }
    Ok(input)
}

/// A honeypot field's name: 1 to 64 of `A-Z a-z 0-9 - _`, and none a person fills in.
pub fn honeypot(input: &str) -> Result<String, InvalidValue> {
    let ok = !input.is_empty()
        && input.len() <= 64
        && input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok || standard(input).is_some() || input == TOKEN_FIELD || CAPTCHA_FIELDS.contains(&input) {
        return Err(InvalidValue::new("honeypot", "1 to 64 of A-Z, a-z, 0-9, `-` and `_`, not a standard field"));
    }
    Ok(input.to_owned())
}

/// A form's minimum fill time, in seconds (0 asks for no form token).
pub fn min_fill_secs(secs: u32) -> Result<u32, InvalidValue> {
    if secs > MAX_MIN_FILL_SECS {
        return Err(InvalidValue::new("min_fill_secs", format!("0 to {MAX_MIN_FILL_SECS} seconds")));
    }
    Ok(secs)
}

/// Where a plain HTML form's browser goes after posting: an `https` (or `http`) URL.
pub fn redirect_url(input: &str) -> Result<String, InvalidValue> {
    let bad = || InvalidValue::new("redirect_url", "an absolute http(s) URL of at most 2000 characters");
    let lower = input.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    if !scheme_ok || input.len() > 2000 || input.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad());
    }
    Ok(input.to_owned())
}

/// Why a submission was taken for spam. Refused submissions store nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamReason {
    /// The honeypot field, hidden from people, was filled in.
    Honeypot,
    /// The form asks for a form token and none came.
    TokenMissing,
    /// The form token is forged, or for another form.
    TokenInvalid,
    /// The form token is older than [`TOKEN_MAX_AGE`].
    TokenExpired,
    /// Posted sooner after the token was issued than the form's minimum fill time.
    TooFast,
    /// A captcha is configured and no answer came.
    CaptchaMissing,
    /// The captcha provider refused the answer.
    CaptchaFailed,
}

impl SpamReason {
    /// What the submitter is told, so a person can fix it; `None` for what only a bot
    /// does, which it is not told.
    pub fn shown(self) -> Option<&'static str> {
        match self {
            Self::Honeypot => None,
            Self::TokenMissing => Some("token_missing"),
            Self::TokenInvalid => Some("token_invalid"),
            Self::TokenExpired => Some("token_expired"),
            Self::TooFast => Some("too_fast"),
            Self::CaptchaMissing => Some("captcha_missing"),
            Self::CaptchaFailed => Some("captcha_failed"),
        }
    }
}

/// How far another node's clock may run ahead of ours: a token it issued looks that much
/// younger here.
const CLOCK_SKEW: Duration = Duration::seconds(5);

/// Checks a form token's age: issued at least `min_secs` before `now`, at most
/// [`TOKEN_MAX_AGE`] before, and not in the future beyond the nodes' clock skew.
pub fn fill_time(issued_at: DateTime<Utc>, now: DateTime<Utc>, min_secs: u32) -> Result<(), SpamReason> {
    let age = now - issued_at;
    if age < -CLOCK_SKEW {
        return Err(SpamReason::TokenInvalid);
    }
    let age = age.max(Duration::zero());
    if age > TOKEN_MAX_AGE {
        return Err(SpamReason::TokenExpired);
    }
    if age < Duration::seconds(min_secs.into()) {
        return Err(SpamReason::TooFast);
    }
    Ok(())
}

/// Whether a captcha widget's answer could be one: the providers' tokens are printable
/// ASCII of a few hundred bytes (at most 2048, Turnstile says); anything else is not sent
/// on to them.
pub fn captcha_answer_plausible(answer: &str) -> bool {
    !answer.is_empty() && answer.len() <= 2048 && answer.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether a honeypot's value shows a bot: anything but blank.
pub fn honeypot_filled(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

/// A subject as typed: one line, without control or disguising characters, cut to
/// [`MAX_SUBJECT_CHARS`]; `None` when blank.
pub fn subject(input: &str) -> Option<String> {
    let kept: String = input
        .chars()
        .map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c })
        .filter(|&c| !c.is_control() && !crate::text::disguises(c))
        .collect();
    let trimmed = kept.trim();
    (!trimmed.is_empty()).then(|| trimmed.chars().take(MAX_SUBJECT_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_the_standard_fields_in_several_ways() {
        assert_eq!(standard("_replyto"), Some(Standard::Email));
        assert_eq!(standard("your-message"), Some(Standard::Message));
        assert_eq!(standard("Email"), Some(Standard::Email));
        assert_eq!(standard("_subject"), Some(Standard::Subject));
        assert_eq!(standard("order"), None);
    }

    #[test]
    fn declared_fields_are_unique_slugs_and_not_standard() {
        let field = |name: &str| FormField { name: name.into(), required: false };
        assert!(fields(vec![field("order-number"), field("product")]).is_ok());
        assert!(fields(vec![field("email")]).is_err());
        assert!(fields(vec![field("_token")]).is_err());
        assert!(fields(vec![field("a"), field("a")]).is_err());
        assert!(fields(vec![field("Order Number")]).is_err());
        assert!(fields((0..21).map(|i| field(&format!("f{i}"))).collect()).is_err());
    }

    #[test]
    fn a_token_must_be_older_than_the_fill_time_and_younger_than_a_day() {
        let now = Utc::now();
        assert_eq!(fill_time(now - Duration::seconds(1), now, 3), Err(SpamReason::TooFast));
        assert_eq!(fill_time(now - Duration::seconds(3), now, 3), Ok(()));
        assert_eq!(fill_time(now, now, 0), Ok(()));
        assert_eq!(fill_time(now - Duration::hours(25), now, 3), Err(SpamReason::TokenExpired));
        assert_eq!(fill_time(now + Duration::seconds(3), now, 0), Ok(()), "another node's clock may run ahead");
        assert_eq!(fill_time(now + Duration::seconds(30), now, 0), Err(SpamReason::TokenInvalid));
        assert!(captcha_answer_plausible("0.zX9-abc_DEF"));
        assert!(!captcha_answer_plausible(&"a".repeat(2049)));
        assert!(!captcha_answer_plausible("a b"));
    }

    #[test]
    fn a_honeypot_counts_only_when_something_is_in_it() {
        assert!(!honeypot_filled(None));
        assert!(!honeypot_filled(Some("  ")));
        assert!(honeypot_filled(Some("http://spam.example")));
        assert!(honeypot("website").is_ok());
        assert!(honeypot("email").is_err());
        assert!(honeypot("a b").is_err());
        assert!(honeypot("cf-turnstile-response").is_err());
    }

    #[test]
    fn subjects_are_one_clean_line() {
        assert_eq!(subject("  Order\r\n 42\u{202E} late ").as_deref(), Some("Order   42 late"));
        assert_eq!(subject(" \n "), None);
        assert_eq!(subject(&"x".repeat(500)).map(|s| s.chars().count()), Some(MAX_SUBJECT_CHARS));
        assert!(redirect_url("https://shop.example/thanks?x=1").is_ok());
        assert!(redirect_url("javascript:alert(1)").is_err());
        assert!(redirect_url("https://a.example/\nLocation: x").is_err());
    }
}
