//! Attributions glued onto the sender's last words: "Thanks! On Mon, 5 May 2014 at 10:00, Ana
//! <a@b> wrote:" on one line, as HTML→text conversions and some clients write it when they
//! lose the line break. Such a line is cut in two before labelling, so the words before the
//! attribution stay the sender's and the attribution starts a quote as usual.

use std::borrow::Cow;

use super::languages::LEAD_INS;
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
    candidates(line).take(16).find(|&at| {
        let mut joined = key(&line[at..]).into_owned();
        for part in tail {
            joined.push(' ');
            joined.push_str(part);
        }
        has_date_or_time(&joined) && is_attribution(&joined, quote_follows)
    })
}

/// Places on `line` where a glued attribution could start: a capitalised lead-in word ("On",
/// "Le", "Am", "W dniu", …) after a space, or a run of dashes framing one ("reply--- On …"),
/// with some words of the sender's before it.
fn candidates(line: &str) -> impl Iterator<Item = usize> + '_ {
    line.char_indices().filter_map(move |(at, c)| {
        let before = &line[..at];
        let prev = before.chars().next_back()?;
        let dash_run = c == '-' && prev != '-';
        if !(dash_run || (prev.is_whitespace() && c.is_uppercase())) {
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
        (starts_upper && LEAD_INS.contains(&word.as_str())).then_some(at)
    })
}
