//! A customer's preferences (language, time zone, preferred channel): learnt from what
//! they use, overridden by agents. These are the rules that read them from a message and
//! check what an agent sets.

use serde::{Deserialize, Serialize};

use crate::{Channel, InvalidValue, text_enum};

/// One preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    /// A BCP 47 language tag (`pt-BR`).
    Language,
    /// An IANA time zone (`Europe/Lisbon`), or a UTC offset (`-03:00`) when that is all a
    /// message said.
    TimeZone,
    /// The channel to answer on: `email`, `chat`, `web_form` or `api`.
    Channel,
}

text_enum!(Preference, "preference", { Language => "language", TimeZone => "time_zone", Channel => "channel" });

/// Where a preference's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferenceSource {
    /// An agent (or a connector) set it.
    Agent,
    /// The `Content-Language` of the customer's latest message that had one.
    ContentLanguage,
    /// The UTC offset in the `Date` header of the customer's latest email.
    DateHeader,
    /// The channel of the customer's latest inbound message.
    LastInbound,
}

text_enum!(PreferenceSource, "source", {
    Agent => "agent", ContentLanguage => "content_language", DateHeader => "date_header",
    LastInbound => "last_inbound",
});

/// A language tag, normalised (`pt-br` → `pt-BR`, `zh-hant-tw` → `zh-Hant-TW`): a primary
/// language of 2–3 letters, then subtags of 1–8 letters or digits. `None` for anything
/// else. The first of a comma-separated list wins (`Content-Language: en, fr`).
pub fn language_tag(input: &str) -> Option<String> {
    let first = input.split(',').next()?.trim();
    let mut parts = first.split(['-', '_']);
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut tag = primary.to_ascii_lowercase();
    for part in parts {
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        tag.push('-');
        match part.len() {
            2 if part.bytes().all(|b| b.is_ascii_alphabetic()) => tag.push_str(&part.to_ascii_uppercase()),
            4 if part.bytes().all(|b| b.is_ascii_alphabetic()) => {
                let (head, tail) = part.split_at(1);
                tag.push_str(&head.to_ascii_uppercase());
                tag.push_str(&tail.to_ascii_lowercase());
            }
            _ => tag.push_str(&part.to_ascii_lowercase()),
        }
    }
    (tag.len() <= 35).then_some(tag)
}

/// The UTC offset a `Date` header was written in (`Tue, 1 Jul 2025 10:52:37 -0300` →
/// `-03:00`): where the sender's clock was. `-0000` says the zone is unknown (RFC 5322),
/// and the obsolete names (`EST`, `GMT`) are too rare to trust; both give `None`.
pub fn utc_offset_of_date(header: &str) -> Option<String> {
    // A trailing comment names the zone for people: `-0800 (Pacific Standard Time)`.
    let without_comment = header.split('(').next()?;
    let zone = without_comment.split_whitespace().next_back()?;
    let (sign, digits) = zone.split_at_checked(1)?;
    if !matches!(sign, "+" | "-") || digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if zone == "-0000" {
        return None;
    }
    let (hours, minutes) = (digits[..2].parse::<u32>().ok()?, digits[2..].parse::<u32>().ok()?);
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some(format!("{sign}{hours:02}:{minutes:02}"))
}

/// What an agent may set as a time zone: an IANA name Braid knows (`America/Sao_Paulo`),
/// `UTC`, or a fixed offset `±HH:MM`.
pub fn time_zone(input: &str) -> Result<String, InvalidValue> {
    let input = input.trim();
    if let Some(offset) = utc_offset_of_date(&input.replace(':', "")).filter(|_| input.len() == 6) {
        return Ok(offset);
    }
    match jiff::tz::TimeZone::get(input) {
        Ok(zone) => Ok(zone.iana_name().unwrap_or(input).to_owned()),
        Err(_) => Err(InvalidValue::new(
            "time_zone",
            format!("`{input}` is not a time zone: use an IANA name like `Europe/Lisbon`, or an offset like `-03:00`"),
        )),
    }
}

/// What an agent may set as a language.
pub fn language(input: &str) -> Result<String, InvalidValue> {
    language_tag(input)
        .filter(|_| !input.contains(','))
        .ok_or_else(|| InvalidValue::new("language", format!("`{input}` is not a language tag like `pt-BR`")))
}

/// What an agent may set as the preferred channel.
pub fn channel(input: &str) -> Result<String, InvalidValue> {
    input
        .parse::<Channel>()
        .map(|c| c.as_str().to_owned())
        .map_err(|_| InvalidValue::new("channel", format!("`{input}` is not one of: email, chat, web_form, api")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_are_normalised_and_junk_is_ignored() {
        assert_eq!(language_tag("pt-br").as_deref(), Some("pt-BR"));
        assert_eq!(language_tag(" en-US, fr").as_deref(), Some("en-US"));
        assert_eq!(language_tag("zh-hant-tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(language_tag("de_AT").as_deref(), Some("de-AT"));
        assert_eq!(language_tag("es-419").as_deref(), Some("es-419"));
        for junk in ["", "english", "e", "en--US", "en-US;q=1", "12-34", "<script>"] {
            assert_eq!(language_tag(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_date_header_gives_its_offset_unless_it_says_it_does_not_know() {
        assert_eq!(utc_offset_of_date("Tue, 1 Jul 2025 10:52:37 -0300").as_deref(), Some("-03:00"));
        assert_eq!(utc_offset_of_date("Tue, 1 Jul 2025 10:52:37 +0530 (IST)").as_deref(), Some("+05:30"));
        assert_eq!(utc_offset_of_date("1 Jul 2025 10:52 +0000").as_deref(), Some("+00:00"));
        let commented = "Mon, 3 Mar 2025 09:00:00 -0800 (Pacific Standard Time)";
        assert_eq!(utc_offset_of_date(commented).as_deref(), Some("-08:00"));
        for unknown in ["Tue, 1 Jul 2025 10:52:37 -0000", "Tue, 1 Jul 2025 10:52:37 GMT", "", "+9999", "nonsense"] {
            assert_eq!(utc_offset_of_date(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn agents_set_iana_zones_or_offsets() {
        assert_eq!(time_zone("America/Sao_Paulo").unwrap(), "America/Sao_Paulo");
        assert_eq!(time_zone("UTC").unwrap(), "UTC");
        assert_eq!(time_zone("-03:00").unwrap(), "-03:00");
        assert_eq!(time_zone("+05:30").unwrap(), "+05:30");
        for bad in ["Mars/Olympus", "-0300", "+25:00", "", "../../etc/passwd"] {
            assert!(time_zone(bad).is_err(), "{bad:?}");
        }
        assert_eq!(language("pt-br").unwrap(), "pt-BR");
        assert!(language("en, fr").is_err());
        assert_eq!(channel("email").unwrap(), "email");
        assert!(channel("fax").is_err());
    }
}
