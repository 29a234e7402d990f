//! The chat channel's rules: which origins a site allows, what a site's identity token may
//! claim, what a visitor may read, and when an unseen chat reply goes by email instead.

use chrono::{DateTime, Duration, Utc};

use crate::InvalidValue;

/// A site's URL-safe name; its signed users become identities `external:<slug>`.
pub fn site_slug(input: &str) -> Result<String, InvalidValue> {
    let slug = input.trim();
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(InvalidValue::new("slug", "1 to 64 lower-case letters, digits, `-` and `_`"));
    }
    if crate::customer::RESERVED_NAMESPACES.contains(&slug) {
        return Err(InvalidValue::new("slug", format!("`{slug}` is reserved")));
    }
    Ok(slug.to_owned())
}

/// The most origins one site lists.
pub const MAX_ORIGINS: usize = 50;

/// An origin as browsers send it: `scheme://host[:port]`, lower-case, no path, no default
/// port. `http` is allowed (a site under development), nothing else but `https`.
pub fn origin(input: &str) -> Result<String, InvalidValue> {
    let bad = || InvalidValue::new("allowed_origins", format!("`{input}` is not an origin like https://shop.example"));
    let lower = input.trim().to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.len() > 253 {
        return Err(bad());
    }
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']');
    if !rest.bytes().all(ok_char) {
        return Err(bad());
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = rest.strip_suffix(default_port).unwrap_or(rest);
    Ok(format!("{scheme}://{host}"))
}

/// Whether a browser's `Origin` header names one of `allowed` (each already [`origin`]).
/// A public surface's allowed origins (a chat site's, a web form's), each checked and
/// normalised, each once, at most [`MAX_ORIGINS`].
pub fn allowed_origins(input: &[String]) -> Result<Vec<String>, InvalidValue> {
    if input.len() > MAX_ORIGINS {
        return Err(InvalidValue::new("allowed_origins", format!("at most {MAX_ORIGINS} allowed_origins")));
    }
    let mut origins = Vec::with_capacity(input.len());
    for presented in input {
        let origin = origin(presented)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

pub fn origin_allowed(allowed: &[String], presented: &str) -> bool {
    origin(presented).is_ok_and(|presented| allowed.contains(&presented))
}

/// Why a site's identity token is refused. Each says what to fix without revealing which
/// part of a forged token was wrong beyond that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("the identity token is not a valid HS256 token signed with one of this site's key ids")]
    Signature,
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token lives longer than this site allows (exp - iat)")]
    TooLong,
    #[error("the identity token needs `sub`: the site's id for the user, 1 to 255 characters")]
    Subject,
    #[error(
        "the identity token's claims are malformed: it needs a numeric `exp`, and `iat`, `email_verified` of their types"
    )]
    Claims,
}

/// Checks an identity token's lifetime: `exp` in the future, and no further from `iat`
/// (or from now, without `iat`) than `max`. A site that signs tokens for a year has given
/// away a password.
pub fn check_lifetime(iat: Option<i64>, exp: i64, now: DateTime<Utc>, max: Duration) -> Result<(), TokenRefusal> {
    let now = now.timestamp();
    if exp <= now {
        return Err(TokenRefusal::Expired);
    }
    let from = iat.unwrap_or(now).min(now);
    if exp - from > max.num_seconds() {
        return Err(TokenRefusal::TooLong);
    }
    Ok(())
}

/// A site's id for its user: 1 to 255 characters, no control or disguising characters.
pub fn subject(input: &str) -> Result<String, TokenRefusal> {
    let ok = !input.is_empty()
        && input.chars().count() <= 255
        && !input.chars().any(|c| c.is_control() || crate::text::disguises(c));
    if ok { Ok(input.to_owned()) } else { Err(TokenRefusal::Subject) }
}

/// What a visitor may read of their thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// A signed user: every public message of their thread, on every channel.
    Thread,
    /// Anyone else: what this visitor wrote, and the chat answers in its tickets.
    Own,
}

impl History {
    pub fn of(verified: bool) -> Self {
        if verified { Self::Thread } else { Self::Own }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thread => "thread",
            Self::Own => "own",
        }
    }
}

/// What the fallback worker does with a chat reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The visitor saw it in the chat: nothing more to send.
    Seen,
    /// Look again at this time: the reply is younger than the delay, or the visitor is
    /// online and may still read it.
    Wait(DateTime<Utc>),
    /// Send it, with the other unseen replies of its ticket, by email.
    Email,
    /// Unseen, and the customer has no email address: it waits in the chat history.
    Nowhere,
}

/// The chat-to-email rule: a reply goes by email once it is `delay` old, unseen, and no
/// socket of the visitor is open; never once seen.
pub fn fallback(
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
    delay: Duration,
    seen: bool,
    online_until: Option<DateTime<Utc>>,
    has_email: bool,
) -> Fallback {
    if seen {
        return Fallback::Seen;
    }
    let due = sent_at + delay;
    if now < due {
        return Fallback::Wait(due);
    }
    if let Some(until) = online_until.filter(|until| *until > now) {
        return Fallback::Wait(until);
    }
    if has_email { Fallback::Email } else { Fallback::Nowhere }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn origins_are_normalised_and_compared_whole() {
        assert_eq!(origin("HTTPS://Shop.Example:443").unwrap(), "https://shop.example");
        assert_eq!(origin("http://127.0.0.1:5555").unwrap(), "http://127.0.0.1:5555");
        for bad in ["shop.example", "ftp://x", "https://", "https://a/b", "https://a b", "javascript://x"] {
            assert!(origin(bad).is_err(), "{bad}");
        }
        let allowed = vec!["https://shop.example".to_owned()];
        assert!(origin_allowed(&allowed, "https://shop.example"));
        assert!(!origin_allowed(&allowed, "https://shop.example.evil"));
        assert!(!origin_allowed(&allowed, "http://shop.example"));
        assert!(!origin_allowed(&allowed, "null"));
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        let max = Duration::hours(24);
        assert_eq!(check_lifetime(Some(at(0).timestamp()), at(3600).timestamp(), at(10), max), Ok(()));
        assert_eq!(check_lifetime(None, at(-1).timestamp(), at(0), max), Err(TokenRefusal::Expired));
        assert_eq!(check_lifetime(None, at(0).timestamp(), at(0), max), Err(TokenRefusal::Expired));
        let year = at(365 * 86_400).timestamp();
        assert_eq!(check_lifetime(Some(at(0).timestamp()), year, at(0), max), Err(TokenRefusal::TooLong));
        assert_eq!(check_lifetime(None, year, at(0), max), Err(TokenRefusal::TooLong));
        // An `iat` in the future does not buy a longer life.
        let future_iat = Some(at(86_000).timestamp());
        assert_eq!(check_lifetime(future_iat, at(90_000).timestamp(), at(0), max), Err(TokenRefusal::TooLong));
    }

    #[test]
    fn subjects_are_plain_bounded_text() {
        assert_eq!(subject("user-42").unwrap(), "user-42");
        for bad in ["", "a\0b", "a\u{202E}b", &"x".repeat(256)] {
            assert_eq!(subject(bad), Err(TokenRefusal::Subject), "{bad:?}");
        }
    }

    #[test]
    fn unseen_replies_go_by_email_after_the_delay_when_nobody_is_online() {
        let delay = Duration::minutes(2);
        assert_eq!(fallback(at(0), at(500), delay, true, None, true), Fallback::Seen);
        assert_eq!(fallback(at(0), at(60), delay, false, None, true), Fallback::Wait(at(120)));
        assert_eq!(fallback(at(0), at(130), delay, false, Some(at(150)), true), Fallback::Wait(at(150)));
        assert_eq!(fallback(at(0), at(130), delay, false, Some(at(100)), true), Fallback::Email);
        assert_eq!(fallback(at(0), at(130), delay, false, None, false), Fallback::Nowhere);
    }
}
