//! Attributions glued onto the sender's last words: "Thanks! On Mon, 5 May 2014 at 10:00, Ana
//! <a@b> wrote:" on one line, as HTML→text conversions and some clients write it when they
//! lose the line break. Such a line is cut in two before labelling, so the words before the
//! attribution stay the sender's and the attribution starts a quote as usual.

use std::borrow::Cow;

use super::languages::{DATE_ABBREVIATIONS, LEAD_INS, THANKS};
use super::patterns::{MAX_HEADER_LINE, ends_with_closing_verb, has_date_or_time, is_attribution, key, lead_in_word};

/// The body's lines, with any line that carries a glued attribution cut where it starts. The
/// flag marks a line that was cut off the one above (so the two are never joined back).
pub fn segments(body: &str) -> Vec<(&str, bool)> {
    let lines: Vec<&str> = body.split('\n').collect();
    let keys: Vec<Cow<'_, str>> = lines.iter().map(|l| key(l)).collect();
    // Only lines that could end an attribution are worth a look; judged once per line.
    let closes: Vec<bool> = keys
        .iter()
        .map(|k| {
            k.len() <= 2 * MAX_HEADER_LINE
                && (k.ends_with([':', '：', '-', '—']) || (!k.starts_with('>') && ends_with_closing_verb(k)))
        })
        .collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match glued_at(&lines, &keys, &closes, i) {
            Some(at) => {
                out.push((&line[..at], false));
                out.push((&line[at..], true));
            }
            None => out.push((line, false)),
        }
    }
    out
}

/// Where on line `i` an attribution starts after some words of the sender's, if one does. It
/// may end on this line or, wrapped, up to three lines below. Looks at a bounded number of
/// places on a bounded line, so the cost per line is constant.
fn glued_at(lines: &[&str], keys: &[Cow<'_, str>], closes: &[bool], i: usize) -> Option<usize> {
    let (line, line_key) = (lines[i], &keys[i]);
    if line.len() > 2 * MAX_HEADER_LINE || line_key.is_empty() || line_key.starts_with('>') {
        return None;
    }
    // The attribution's last line: this one or one of the next three, none blank or quoted.
    let mut end = i;
    while !closes[end] {
        end += 1;
        if end > i + 3 || keys.get(end).is_none_or(|k| k.is_empty() || k.starts_with('>')) {
            return None;
        }
    }
    let quote_follows = keys[end + 1..].iter().take(5).find(|k| !k.is_empty()).is_some_and(|k| k.starts_with('>'));
    let tail = &keys[i + 1..=end];
    let whole = std::iter::once(line_key).chain(tail).map(AsRef::as_ref).collect::<Vec<&str>>().join(" ");
    // A line that opens like an attribution is one whole ("On … 4:58 AM -0800, Ana <a@b> wrote:"
    // has "AM" in it, which is German's "Am"); the line rules handle it.
    if lead_in_word(&whole) || whole.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let valid = |at: usize| {
        let mut joined = key(&line[at..]).into_owned();
        for part in tail {
            joined.push(' ');
            joined.push_str(part);
        }
        // Undated, only a name that is its address, closed by a verb over a quote ("Sounds
        // Good Ana <ana@b> wrote:" then `>` lines), is strong enough: "codinghorror via
        // Discourse Meta <info@…> schrieb:" is one attribution.
        (has_date_or_time(&joined) || (quote_follows && name_matches_address(&joined)))
            && is_attribution(&joined, quote_follows)
    };
    let mut found = candidates(line, quote_follows).take(16).filter(|&at| valid(at));
    let first = found.next()?;
    // A name that is the address ("Maria <maria.rossi@…>") beats an earlier cut whose name is
    // not ("Great News Maria <…>" is cut before "Maria", not "News").
    let rest = line[first..].trim_start_matches(['-', '—', ' ']);
    if !name_then_address(rest) || name_matches_address(rest) {
        return Some(first);
    }
    Some(found.find(|&at| name_matches_address(&line[at..])).unwrap_or(first))
}

/// Places on `line` where a glued attribution could start, with some words of the sender's
/// before it: a capitalised lead-in word ("On", "Le", "Am", "W dniu", …) after a space, a run
/// of dashes framing one ("reply--- On …"), a date (Gmail's "2014-03-20 8:48 GMT+01:00 Name
/// <a@b>:"), or a name of up to four words right before an address ("Thanks Ana <a@b> schrieb
/// am …:", as clients that put the name first write it).
fn candidates(line: &str, quote_follows: bool) -> impl Iterator<Item = usize> + '_ {
    line.char_indices().filter_map(move |(at, c)| {
        let before = &line[..at];
        let prev = before.chars().next_back()?;
        let dash_run = c == '-' && prev != '-';
        if !(dash_run || prev.is_whitespace()) {
            return None;
        }
        let said = before.trim().trim_end_matches(['-', '—']).trim();
        if said.is_empty() {
            return None;
        }
        let rest = line[at..].trim_start_matches(['-', '—', ' ']);
        let first = rest.split_whitespace().next()?;
        let starts_upper = first.chars().next().is_some_and(char::is_uppercase);
        let word = first.trim_end_matches(',').to_lowercase();
        let lead_in = starts_upper && LEAD_INS.contains(&word.as_str());
        // A date or a name is only glued on when the words before it cannot be the
        // attribution's own opening: a weekday ("Wednesday, 4 June …", "ti 4.6.2024 …"), words
        // that lead in ("In data 4 marzo …"), a name and address ("Ana <a@b>, 4 Haz 2024 …
        // yazdı:"), a date
        // ("ti 4.6.2024 klo 10.02 Ana Lima (a@b) kirjoitti:") or the name's first part
        // ("Support Team <a@b> …").
        // A year-first date (Gmail's "2014-03-20 8:48 …", "2013/7/20 …", "2024年6月4日 …")
        // opens no attribution after words in any language, so with a quote under it the
        // words before need no sentence end ("Works now 2014-03-20 … Ana <a@b>:").
        let dated = !dash_run
            && c.is_ascii_digit()
            && !said.contains(|c: char| c.is_ascii_digit() || c == '@')
            && (said_before_date(said) || (quote_follows && year_first(rest) && !said.ends_with([',', ':', ';'])));
        let named = !dash_run
            && !has_date_or_time(said)
            && (said_before_name(said) || (said.split_whitespace().nth(1).is_some() && name_matches_address(rest)))
            && name_then_address(rest);
        (lead_in || dated || named).then_some(at)
    })
}

/// The sender's words before a glued date: a finished sentence or a word of thanks. Anything
/// else ("Wednesday,", "ti", "In data") may open the attribution itself, in a language whose
/// lead-in words the tables lack.
fn said_before_date(said: &str) -> bool {
    let last = said.split_whitespace().next_back().unwrap_or_default();
    let bare = last.trim_end_matches(['.', '!']).to_lowercase();
    (said.ends_with(['!', '?']) || (said.ends_with('.') && !DATE_ABBREVIATIONS.contains(&bare.as_str())))
        || THANKS.contains(&bare.as_str())
}

/// The sender's words before a glued name: they end a sentence or clause, hold a lower-case
/// word, or end in a word of thanks or assent. A run of capitalised or quoted words alone
/// ("Support Team", "\"Ana") may be the start of the name itself.
fn said_before_name(said: &str) -> bool {
    if said.ends_with(['.', '!', '?', ',', ';', ')', ':']) {
        return true;
    }
    if said.split_whitespace().any(|w| w.starts_with(char::is_lowercase)) {
        return true;
    }
    let last = said.split_whitespace().next_back().unwrap_or_default().to_lowercase();
    THANKS.contains(&last.as_str())
}

/// `rest` opens with a sender's name (up to four capitalised or quoted words) and an address
/// ("Ana Silva <a@b>", "\"Ana\" <a@b>"), or with the address itself ("ana@b.com schrieb …").
/// Looks at five words at most.
fn name_then_address(rest: &str) -> bool {
    for (n, word) in rest.split_whitespace().take(5).enumerate() {
        // "<a@b>", "(a@b)", or a "<" whose address wrapped onto the next line.
        if word.starts_with('<')
            || (word.starts_with(['(', '[']) && word.contains('@'))
            || (n == 0 && word.contains('@'))
        {
            return true;
        }
        if !word.starts_with(|c: char| c.is_uppercase() || c == '"' || c == '\'') {
            return false;
        }
    }
    false
}

/// `rest` opens with a year: four digits, then "-", "/", "." or "年".
fn year_first(rest: &str) -> bool {
    let b = rest.as_bytes();
    b.len() > 4
        && b[..4].iter().all(u8::is_ascii_digit)
        && (matches!(b[4], b'-' | b'/' | b'.') || rest[4..].starts_with('年'))
}

/// Every word of the name that `rest` opens with is in the address's local part ("Ana Lima
/// <ana.lima@…>"): then a run of capitalised words before it ("Sounds Good Ana Lima <…>") is
/// the sender's, not the start of the name. Looks at five words at most.
fn name_matches_address(rest: &str) -> bool {
    let mut words = rest.split_whitespace().take(5);
    let mut name = Vec::new();
    for word in words.by_ref() {
        if let Some(address) = word.strip_prefix(['<', '(', '[']) {
            let local = address.split('@').next().unwrap_or_default().to_lowercase();
            return !name.is_empty()
                && name.iter().all(|w: &String| w.chars().count() >= 2 && local.contains(w.as_str()));
        }
        name.push(word.trim_matches(['"', '\'', ',']).to_lowercase());
    }
    false
}
