//! What a single line (or a few lines joined) looks like: an attribution, a header field, a
//! separator, a phone's sign-off. Every check here works on a line's *key*: the line with the
//! invisible characters that tracking and formatting add removed and non-breaking spaces made
//! plain, so they cannot defeat a match. The line itself is kept as sent.

use std::borrow::Cow;

use super::languages::{
    self, CLOSING_CJK, CLOSING_VERBS, DATE_ABBREVIATIONS, DEVICES, FORWARD_LINES, FORWARDED, Field, LEAD_INS,
    OPENING_VERBS, ORIGINAL, SEND_VERBS, SENT_FROM_APP, SENT_FROM_MY, SIGN_OFFS,
};

/// Attribution and header lines are short; anything longer is not one, whatever it says.
/// This bound also keeps the per-line checks constant-time on giant lines.
pub const MAX_HEADER_LINE: usize = 300;

/// The line as matched: zero-width characters, soft hyphens, bidi marks and the "ᐧ" some
/// trackers append removed,
/// non-breaking and other odd spaces made plain, ends trimmed.
pub fn key(line: &str) -> Cow<'_, str> {
    let invisible = |c: char| {
        matches!(c, '\u{200B}'..='\u{200F}' | '\u{FEFF}' | '\u{00AD}' | '\u{2060}' | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}' | '\u{2061}'..='\u{2064}' | '\u{061C}' | '\u{034F}' | '\u{1427}')
    };
    let odd_space = |c: char| matches!(c, '\u{00A0}' | '\u{2007}' | '\u{202F}' | '\u{3000}' | '\u{2000}'..='\u{200A}');
    if !line.chars().any(|c| invisible(c) || odd_space(c)) {
        return Cow::Borrowed(line.trim());
    }
    let cleaned: String = line.chars().filter(|c| !invisible(*c)).map(|c| if odd_space(c) { ' ' } else { c }).collect();
    Cow::Owned(cleaned.trim().to_owned())
}

/// The text of a `>` line without its markers ("> > On … wrote:" → "On … wrote:").
pub fn unquote(key: &str) -> &str {
    key.trim_start_matches(|c: char| c == '>' || c.is_whitespace())
}

/// A short rule ("===", "----", "***") that some clients draw right above a quote.
pub fn is_short_rule(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    matches!(first, '-' | '_' | '=' | '*' | '~' | '#') && s.len() >= 3 && s.len() < 100 && chars.all(|c| c == first)
}

/// A line of ten or more `-`, `_`, `=` or `*` (spaces allowed): the rule above an original.
pub fn is_rule(s: &str) -> bool {
    let mut chars = s.chars().filter(|c| !c.is_whitespace());
    let Some(first) = chars.next() else { return false };
    matches!(first, '-' | '_' | '=' | '*' | '—' | '─') && s.chars().count() >= 10 && chars.all(|c| c == first)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// "-----Original Message-----": a quoted original follows.
    Original,
    /// "---------- Forwarded message ---------", "Begin forwarded message:": what follows is
    /// what the sender forwards.
    Forward,
}

/// Trims the frame clients draw around a separator or attribution: dashes, underscores,
/// equals signs, asterisks, spaces.
fn unframe(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, '-' | '_' | '=' | '*' | '—' | '–' | '─') || c.is_whitespace())
}

/// "-----Original Message-----", "-------- Message transféré --------", "Begin forwarded
/// message:", "----- Forwarded by Ana on 03/06/2024 -----" and their translations.
pub fn separator(key: &str) -> Option<Separator> {
    if key.len() > 120 {
        return None;
    }
    let framed = key.starts_with(['-', '_', '=', '*', '—', '–', '─']) || key.starts_with("[");
    let lower = unframe(key).trim_matches(['[', ']']).trim().to_lowercase();
    let bare = lower.trim_end_matches([':', '：']).trim();
    if framed && ORIGINAL.contains(&bare) {
        return Some(Separator::Original);
    }
    if (framed && FORWARDED.contains(&bare)) || (lower.ends_with([':', '：']) && FORWARD_LINES.contains(&bare)) {
        return Some(Separator::Forward);
    }
    if framed && (bare.starts_with("forwarded by ") || bare.starts_with("weitergeleitet von ")) {
        return Some(Separator::Forward);
    }
    None
}

/// A header field line ("From: …", "*Envoyé :* …", "发件人: …"): its kind and its value.
pub fn header_field(key: &str) -> Option<(Field, &str)> {
    let line = key.trim_start_matches(['*', '_', ' ', '\t']);
    let (colon, c) = line.char_indices().take(24).find(|(_, c)| *c == ':' || *c == '：')?;
    let name = line[..colon].trim().trim_end_matches(['*', '_']).trim().to_lowercase();
    let value = line[colon + c.len_utf8()..].trim_start_matches(['*', '_']).trim();
    languages::field(&name).map(|field| (field, value))
}

/// Whether a line can be the first of an attribution wrapped over several lines.
pub fn may_open_attribution(s: &str) -> bool {
    let s = unframe(s);
    (!s.ends_with(['.', '!', '?']) || ends_mid_date(s)) && (lead_in_word(s) || starts_with_date(s))
}

/// The line stops inside a date: on a day number or a weekday or month abbreviation with its
/// dot ("… schrieb am Fr., 28." / "Apr. 2017 um 10:00 Uhr"; "Le jeu." / "5 oct. 2017"), so it
/// is an attribution wrapped mid-date rather than a sentence that ends.
pub fn ends_mid_date(s: &str) -> bool {
    let Some(word) = s.split_whitespace().last().and_then(|w| w.strip_suffix('.')) else { return false };
    let word = word.trim_start_matches(['(', ',']).to_lowercase();
    (!word.is_empty() && word.len() <= 2 && word.bytes().all(|b| b.is_ascii_digit()))
        || DATE_ABBREVIATIONS.contains(&word.as_str())
}

/// The line ends in an attribution's closing verb with no colon ("On … <a@b> wrote").
pub fn ends_with_closing_verb(s: &str) -> bool {
    // The longest verb is a few words: only the line's end needs lower-casing.
    let from = s.char_indices().rev().nth(40).map_or(0, |(at, _)| at);
    let lower = s[from..].to_lowercase();
    CLOSING_VERBS
        .iter()
        .any(|v| lower.strip_suffix(v).is_some_and(|before| before.is_empty() || before.ends_with(char::is_whitespace)))
}

/// A clock time ("15:05", "9:41"): Outlook's "Sent:" always has one.
pub fn has_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    (1..b.len()).any(|i| b[i] == b':' && digit(i - 1) && digit(i + 1) && digit(i + 2))
}

/// The line opens with "On", "Le", "Am", "W dniu", … (an attribution's first word).
pub fn lead_in_word(s: &str) -> bool {
    let s = unframe(s);
    let first = s.split_whitespace().next().unwrap_or_default().trim_end_matches(',').to_lowercase();
    LEAD_INS.contains(&first.as_str()) || s.starts_with("在") || s.starts_with("于")
}

/// The line opens with a date or weekday: "2014-03-20 8:48", "4 июня", "Mon, 3 Jun", "ti 4.6.".
pub fn starts_with_date(s: &str) -> bool {
    let s = unframe(s);
    s.chars().take(12).any(|c| c.is_ascii_digit()) && !s.starts_with(['>', '-'])
}

/// Whether `s` (one attribution, its lines joined and keyed) says who wrote what follows.
/// `quote_follows`: `>` lines come next, which makes a bare "Name wrote:" believable.
pub fn is_attribution(s: &str, quote_follows: bool) -> bool {
    if s.len() > 2 * MAX_HEADER_LINE {
        return false;
    }
    let framed = s.starts_with(['-', '—']) && s.ends_with(['-', '—']);
    let inner = unframe(s);
    let colon = inner.ends_with([':', '：']);
    // "On … <a@b> wrote" with the colon left out: judged below on its date and address.
    let bare_verb = !colon && ends_with_closing_verb(inner);
    let Some(body) = inner.strip_suffix([':', '：']).or((framed || quote_follows || bare_verb).then_some(inner))
    else {
        return false;
    };
    let body = body.trim().to_lowercase();
    if body.ends_with(['.', '!', '?']) {
        return false;
    }
    let dated = has_date_or_time(&body);
    let addressed = body.contains('@');
    let opens = lead_in_word(&body) || starts_with_date(&body);

    let closes = CLOSING_CJK.iter().any(|v| body.ends_with(v))
        || CLOSING_VERBS
            .iter()
            .any(|v| body.strip_suffix(v).is_some_and(|before| !before.ends_with(|c: char| c.is_alphanumeric())));
    if closes && (colon || framed) && ((opens && dated) || addressed || quote_follows || (framed && dated)) {
        return true;
    }
    if closes && opens && dated && addressed {
        return true;
    }
    let words: Vec<&str> = body.split_whitespace().collect();
    // "Name <a@b> schrieb am Di., 16. Aug. 2016 um 12:52 Uhr:": a verb inside, with an address
    // and a date around it.
    let verb_inside = words.iter().any(|w| CLOSING_VERBS.contains(w) || OPENING_VERBS.contains(w));
    if colon && verb_inside && addressed && dated {
        return true;
    }
    let verb_first = words.iter().position(|w| OPENING_VERBS.contains(w)).is_some_and(|at| {
        let before = words[..at].join(" ");
        at > 0 && has_date_or_time(&before) && words.len() - at - 1 <= 8
    });
    if colon && verb_first {
        return true;
    }
    // Gmail in several locales has no verb: "2014-03-20 8:48 GMT+01:00 Name <a@b>:",
    // "вт, 4 июн. 2024 г. в 10:02, Name <a@b>:", "2024年6月4日(火) 10:02 Name <a@b>:"; old
    // Gmail left out the colon too ("2013/7/20 Name <a@b>"), so a quote must follow then.
    (colon || quote_follows)
        && (opens || body.starts_with(|c: char| c.is_alphabetic()))
        && starts_with_date(&body)
        && addressed
        && dated
        && (body.ends_with('>') || body.ends_with(')') || body.ends_with(']'))
}

/// A four-digit year, a time like "8:48", or a date like "19/03" or "25.06".
pub fn has_date_or_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    (0..b.len()).any(|i| {
        (digit(i) && digit(i + 1) && digit(i + 2) && digit(i + 3))
            || (digit(i) && matches!(b.get(i + 1), Some(b':' | b'/' | b'.' | b'h')) && digit(i + 2) && digit(i + 3))
            || (digit(i)
                && matches!(b.get(i + 1), Some(b'.' | b'/'))
                && digit(i + 2)
                && matches!(b.get(i + 3), Some(b'.' | b'/')))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mobile {
    /// "Sent from my iPhone": a signature wherever it stands.
    Always,
    /// "Sent from Mail for Windows 10": only when nothing but a quote follows, since the
    /// words could be a sentence.
    AtEnd,
}

/// The line a phone or mail app appends: "Sent from my iPhone", "Envoyé de mon iPad",
/// "Von meinem Mobilgerät gesendet", "(sent from a phone)", ….
pub fn mobile_signature(key: &str) -> Option<Mobile> {
    if key.len() > 120 {
        return None;
    }
    let lower = key.trim_matches(|c: char| "()<>[]".contains(c)).to_lowercase();
    if lower.ends_with("から送信") || lower.starts_with("发自我的") || lower.starts_with("從我的") {
        return Some(Mobile::Always);
    }
    // "Sent from my cell, please excuse any typos": what follows a comma could be a sentence
    // ("Sent from my desk, is much easier…"), so only a bare device name counts anywhere.
    let device = |prefixes: &[&str], max_words: usize, comma: bool| {
        prefixes.iter().filter_map(|p| lower.strip_prefix(p)).any(|rest| {
            // "Get Outlook for iOS<https://aka.ms/o0ukef>": the link is not part of the name.
            let rest = rest.split(['<', '(', '[']).next().unwrap_or_default();
            let (rest, clause) = match rest.split_once(',') {
                Some((device, clause)) if comma => (device, Some(clause)),
                _ => (rest, None),
            };
            // With a clause after the comma, the words before it must name a device.
            if clause.is_some() && !DEVICES.iter().any(|d| rest.contains(d)) {
                return false;
            }
            let rest = rest.trim_end_matches('.');
            let words = rest.split_whitespace().count();
            // Before a clause, only a short device name ("my cell, please excuse typos").
            let max_words = if clause.is_some() { max_words.min(3) } else { max_words };
            (1..=max_words).contains(&words)
                && rest.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "-'’.".contains(c))
        })
    };
    if device(SENT_FROM_MY, 5, false) {
        return Some(Mobile::Always);
    }
    if device(SENT_FROM_MY, 5, true) || device(SENT_FROM_APP, 6, true) {
        return Some(Mobile::AtEnd);
    }
    // A send verb and a device in a short line, in whatever order the language puts them
    // ("Von meinem Mobilgerät gesendet"); a comma or an English "sent from" makes it prose.
    if lower.contains(',') || SENT_FROM_APP.iter().any(|p| lower.starts_with(p)) {
        return None;
    }
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric() && c != '-').filter(|w| !w.is_empty()).collect();
    let sends = words.iter().any(|w| SEND_VERBS.contains(w) || w.starts_with("gesendet"));
    let names_device = words.iter().any(|w| DEVICES.iter().any(|d| w.contains(d)));
    (sends && names_device && words.len() <= 14).then_some(Mobile::AtEnd)
}

/// A short sign-off name: up to four words of letters (and dots, hyphens, apostrophes).
pub fn is_name(s: &str) -> bool {
    let words = s.split_whitespace().count();
    (1..=4).contains(&words) && s.chars().all(|c| c.is_alphabetic() || c.is_whitespace() || ".-'’".contains(c))
}

/// A sign-off line: a closing phrase ("Regards,", "Viele Grüße", "Cordialement") and at most a
/// short name after it ("Regards, Roman", "Thanks -Ana").
pub fn is_sign_off(key: &str) -> bool {
    if key.len() > 60 {
        return false;
    }
    let lower = key.to_lowercase();
    SIGN_OFFS.iter().any(|phrase| {
        lower.strip_prefix(phrase).is_some_and(|rest| {
            // The phrase ends at a word's end ("Best," not "Bestellung").
            if rest.starts_with(char::is_alphanumeric) {
                return false;
            }
            // The name as written (its capitals), after as many characters as the phrase has.
            let original = key.char_indices().nth(phrase.chars().count()).map_or("", |(at, _)| &key[at..]);
            let name = original.trim_start_matches([',', '.', '!', ' ', '-', '—', '/']).trim_end_matches(['.', '!']);
            name.is_empty() || is_capitalised_name(name)
        })
    })
}

/// A name whose words start with a capital (or a letter without case, as in CJK names):
/// "Roman", "Ana Lima", "Анна", not "time is Monday".
pub fn is_capitalised_name(s: &str) -> bool {
    is_name(s) && s.split_whitespace().all(|w| w.starts_with(|c: char| c.is_alphabetic() && !c.is_lowercase()))
}
