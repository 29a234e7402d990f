//! The third blind set (scored once, seen since; see [`FLOOR`]): closeio/quotequail's tests (`reply_fixtures/quotequail/`, MIT), imported
//! before the round that handled header-first forwards, glued attributions without a lead-in
//! and sign-offs under a quote, and scored once at its end. quotequail splits a message into a
//! shown part and a hidden part (`quote`, `quote_html`) or unwraps it into the part above
//! the quoted or forwarded message and its headers (`unwrap`, `unwrap_html`). Each test row
//! is one case, mapped to Braid's [`Reply`] by rules fixed before scoring (whitespace
//! normalised; `text` and `signature` together, as quotequail has no signature notion):
//!
//! - `quote`/`quote_html`: the expectation with the intro line quoted (`quote_intro_line=True`)
//!   when the test gives one. The shown chunks before the first hidden one are the expected
//!   text; nothing hidden means `quoted` is `None` and, for plain text, the whole input is
//!   `text`. When the hidden part opens with a forward line ("Begin forwarded message",
//!   "Forwarded message"; no other language is assumed), Braid keeps the
//!   forward: `forwarded` must be true and `text` is the shown part and the forward together.
//! - `unwrap`/`unwrap_html`: `None` means nothing quoted (`quoted` is `None`, plain text: the
//!   whole input is `text`). A `reply` means `text` is `text_top`/`html_top` (when a bottom part
//!   is given too, `text` starts with the top and ends with the bottom); a `forward` means
//!   `forwarded` is true and `text` starts with the top part, if any.
//! - HTML goes in as an HTML-only message whose text alternative is Braid's own conversion
//!   ([`html_to_text`]); each expected HTML chunk goes through the same conversion, so only the
//!   cut is compared, not two converters. (Until the round after scoring, expected chunks went
//!   through mail-parser, which runs block texts together: "Some textsome more text".)
//! - `quote`/`quote_html` without a `quote_intro_line=True` variant: a last shown line ending in
//!   ":" (not a forward line) is the intro line and counts with the quote, as in that variant.

use braid_channels::email::reply::{Reply, html_to_text, split, split_message};
use serde_json::Value;
use std::path::Path;

pub struct Outcome {
    pub name: String,
    pub failure: Option<String>,
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shown(reply: &Reply) -> String {
    words(&format!("{}\n{}", reply.text, reply.signature.as_deref().unwrap_or("")))
}

/// An HTML-only message. Its text alternative is Braid's own conversion of the HTML, the one
/// the expected HTML chunks go through too, so a case measures where the cut lands, not how
/// two converters space block elements ("Some textsome more text").
fn split_html(html: &str) -> Reply {
    split_message(&html_to_text(html), Some(html))
}

fn opens_forward(s: &str) -> bool {
    let first = s.lines().map(|l| l.trim_start_matches(['>', ' ']).trim()).find(|l| !l.is_empty());
    let first = first.unwrap_or_default().to_lowercase();
    first.contains("forwarded message") || first.starts_with("begin forwarded")
}

fn judge(case: &Value, input: &str, is_html: bool) -> Option<String> {
    let reply = if is_html { split_html(input) } else { split(input) };
    let got = shown(&reply);
    let as_words = |s: &str| if is_html { words(&html_to_text(s)) } else { words(s) };
    let whole = |reply: &Reply| {
        if reply.quoted.is_some() {
            return Some(format!("expected nothing quoted, got quoted {:?}", reply.quoted));
        }
        (!is_html && got != words(input)).then(|| format!("expected the whole input as text, got {got:?}"))
    };
    let func = case["func"].as_str().unwrap_or_default();
    let expected = if case["expected_quote_intro_line"].is_null() {
        &case["expected"]
    } else {
        &case["expected_quote_intro_line"]
    };
    if func.starts_with("quote") {
        let chunks = expected.as_array().expect("quote chunks");
        let first_hidden = chunks.iter().position(|c| c[0] == false).unwrap_or(chunks.len());
        let join = |cs: &[Value]| cs.iter().map(|c| c[1].as_str().unwrap_or_default()).collect::<Vec<_>>().join("\n");
        let (top, hidden) = (join(&chunks[..first_hidden]), join(&chunks[first_hidden..]));
        if first_hidden == chunks.len() {
            return whole(&reply);
        }
        let hidden_text = if is_html { html_to_text(&hidden) } else { hidden.clone() };
        if opens_forward(&hidden_text) {
            let want = words(&format!("{} {}", as_words(&top), as_words(&hidden)));
            return (!reply.forwarded || got != want).then(|| {
                format!("expected a forward (forwarded={}) with text {want:?}, got {got:?}", reply.forwarded)
            });
        }
        let mut want = as_words(&top);
        // Without a `quote_intro_line=True` variant the shown part ends with the intro line
        // ("On … wrote:"; a forward line is not one), which Braid, like that variant, counts with the quote.
        if case["expected_quote_intro_line"].is_null() {
            let top_text = if is_html { html_to_text(&top) } else { top.clone() };
            let lines: Vec<&str> = top_text.lines().filter(|l| !l.trim().is_empty()).collect();
            if let Some((last, above)) = lines.split_last()
                && last.trim_end().ends_with(':')
                && !opens_forward(last)
            {
                want = words(&above.join("\n"));
            }
        }
        return (got != want).then(|| format!("expected text {want:?}, got {got:?}"));
    }
    if expected.is_null() {
        return whole(&reply);
    }
    let part = |key: &str| {
        let key = if is_html { format!("html_{key}") } else { format!("text_{key}") };
        expected[key.as_str()].as_str().map(as_words)
    };
    let (top, bottom) = (part("top").unwrap_or_default(), part("bottom"));
    match expected["type"].as_str() {
        Some("forward") => (!reply.forwarded || !got.starts_with(&top))
            .then(|| format!("expected a forward (forwarded={}) starting {top:?}, got {got:?}", reply.forwarded)),
        _ => match bottom {
            None => (got != top).then(|| format!("expected text {top:?}, got {got:?}")),
            Some(bottom) => (!got.starts_with(&top) || !got.ends_with(&bottom))
                .then(|| format!("expected text from {top:?} to {bottom:?}, got {got:?}")),
        },
    }
}

pub fn score(dir: &Path) -> Vec<Outcome> {
    let raw = std::fs::read_to_string(dir.join("cases.json")).expect("quotequail/cases.json");
    let cases: Value = serde_json::from_str(&raw).expect("cases.json is JSON");
    cases
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(|case| {
            let input = match case["file"].as_str() {
                Some(file) => std::fs::read_to_string(dir.join("files").join(file)).expect("fixture file"),
                None => case["input"].as_str().expect("input").to_owned(),
            };
            let is_html = case["func"].as_str().is_some_and(|f| f.ends_with("_html"));
            Outcome { name: case["name"].as_str().expect("name").to_owned(), failure: judge(case, &input, is_html) }
        })
        .collect()
}

/// Scored once, blind, at the end of the round it was imported in: 42/51 (82.4%), with a
/// harness that converted expected HTML through mail-parser. Seen since; with the fair harness
/// the same rules score 45/51. See docs/reply-stripping.md.
const FLOOR: f64 = 0.90;

#[test]
fn reply_stripping_on_quotequails_suite() {
    let outcomes = score(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reply_fixtures/quotequail"));
    let passed = outcomes.iter().filter(|o| o.failure.is_none()).count();
    let rate = passed as f64 / outcomes.len().max(1) as f64;
    println!(
        "quotequail  {passed}/{} ({:.1}%; seen; blind when scored once: 42/51 on the old harness)",
        outcomes.len(),
        rate * 100.0
    );
    if std::env::var_os("BRAID_SHOW_BLIND").is_some() {
        for outcome in &outcomes {
            if let Some(why) = &outcome.failure {
                println!("FAIL quotequail/{}: {why}", outcome.name);
            }
        }
    }
    assert!(rate >= FLOOR, "quotequail rate {:.1}% is below the floor", rate * 100.0);
}
