//! Reply stripping: splits an email into what the sender newly wrote, the quoted history, and
//! their signature, so a thread shows the new words and keeps the rest aside.
//!
//! - [`split_message`] reads the HTML part first when there is one ([`html`]): Gmail, Apple
//!   Mail, Thunderbird, Outlook and Yahoo mark the quote in its structure, which beats any
//!   guess from the text. Without such structure it falls back to the text.
//! - [`split`] reads plain text ([`text`]): line by line, top to bottom, once, with the
//!   attributions, header blocks and separators of many clients and languages
//!   ([`patterns`], [`languages`]).
//!
//! `text` runs from the top to the last line the sender wrote, so quotes answered inline stay
//! in it, as mail clients show them. A forward is what the sender sent: it stays in `text`,
//! and `forwarded` says so. A message that is only quotes has an empty `text`. Nothing is
//! dropped: every non-blank line of the body lands in `text`, `quoted` or `signature`.

mod glued;
mod html;
mod html_text;
mod languages;
mod patterns;
mod text;

use serde::Serialize;

use text::{Label, Line};

/// What a reply splits into. `text` is what the sender newly wrote; the rest is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Reply {
    pub text: String,
    /// The HTML of the new part (unsanitised), when the HTML part's structure was used or
    /// nothing was cut from it; `None` when the split came from the text alone.
    pub html: Option<String>,
    pub quoted: Option<String>,
    pub signature: Option<String>,
    /// The body forwards a message (kept in `text` and `html`, not cut as a quote).
    pub forwarded: bool,
    /// The HTML part was too large or complex to parse, so the text decided.
    #[serde(skip)]
    pub html_too_complex: Option<crate::email::html::TooComplex>,
}

/// The readable text of an HTML body as Braid converts it (blocks and `<br>` break lines), for
/// callers and tests that need the same conversion as [`split_message`]'s HTML path.
pub fn html_to_text(html: &str) -> String {
    html::html_to_text(html)
}

/// Splits `body` (plain text, any line endings). Linear in the size of the body.
pub fn split(body: &str) -> Reply {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<Line<'_>> = glued::segments(&body).into_iter().map(|(raw, cut)| Line::new(raw, cut)).collect();
    let (labels, forwarded) = text::label(&lines);
    Reply { forwarded, ..assemble(&lines, &labels) }
}

/// Splits a message from its text body and, when it has one, its HTML body (as
/// [`crate::email::ParsedEmail`] holds them). The HTML decides when its structure marks a
/// quote, a signature or a forward; otherwise the text is split and `html` is the whole HTML
/// part when nothing was cut from the text, `None` when something was (the caller then
/// shows `text`, since the HTML would still show the quote).
pub fn split_message(text: &str, html: Option<&str>) -> Reply {
    let html_too_complex = match html.map(html::split) {
        Some(Ok(Some(reply))) => return reply,
        Some(Err(too_complex)) => Some(too_complex),
        Some(Ok(None)) | None => None,
    };
    let reply = split(text);
    let untouched = reply.quoted.is_none() && reply.signature.is_none() && html_too_complex.is_none();
    Reply { html: html.filter(|_| untouched).map(str::to_owned), html_too_complex, ..reply }
}

/// Builds the reply from the labels: `text` to the last text line, the rest by label.
fn assemble(lines: &[Line<'_>], labels: &[Label]) -> Reply {
    let last_text = labels.iter().rposition(|l| *l == Label::Text);
    // A client's quote (attribution and all) above everything the sender wrote, with no
    // quote between their lines, is bottom posting: it answers nothing inline.
    let first_text = labels.iter().position(|l| *l == Label::Text).unwrap_or(lines.len());
    let inline = last_text.is_some_and(|last| labels[first_text..last].contains(&Label::Quote));
    let bare_attribution = !lines[..first_text].iter().any(|l| l.quoted);
    let first_text =
        if text::opens_with_attribution(lines, labels) && (!inline || bare_attribution) { first_text } else { 0 };
    let text =
        last_text.map(|last| join(lines[first_text..=last].iter().map(|l| l.raw.trim_end()))).unwrap_or_default();
    let rest = last_text.map_or(0, |last| last + 1);
    let (mut quoted, mut signature) = (Vec::new(), Vec::new());
    let leading = if last_text.is_some() { first_text } else { 0 };
    for range in [0..leading, rest..lines.len()] {
        for (label, part) in runs(lines, labels, range) {
            if label == Label::Quote { quoted.push(part) } else { signature.push(part) }
        }
    }
    let joined = |parts: Vec<String>| (!parts.is_empty()).then(|| parts.join("\n\n"));
    Reply {
        text,
        html: None,
        quoted: joined(quoted),
        signature: joined(signature),
        forwarded: false,
        html_too_complex: None,
    }
}

/// The runs of one label in `range`, each joined. Blank lines go with the run above them;
/// each run is trimmed of them at its edges.
fn runs(lines: &[Line<'_>], labels: &[Label], range: std::ops::Range<usize>) -> Vec<(Label, String)> {
    let mut parts = Vec::new();
    let mut run: Option<(Label, usize)> = None;
    let end = range.end;
    for i in range.start..=end {
        let label = if i == end { Label::Blank } else { labels[i] };
        let ends_run = i == end || (label != Label::Blank && run.is_some_and(|(l, _)| l != label));
        if ends_run && let Some((l, start)) = run.take() {
            parts.push((l, join(lines[start..i].iter().map(|l| l.raw))));
        }
        if label != Label::Blank && run.is_none() {
            run = Some((label, i));
        }
    }
    parts
}

/// Joins lines, leaving out blank lines at either end.
fn join<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines.collect();
    let blank = |l: &&str| patterns::key(l).is_empty();
    let first = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !blank(l)).map_or(first, |l| l + 1);
    lines[first..last.max(first)].join("\n")
}

#[cfg(test)]
mod tests;
