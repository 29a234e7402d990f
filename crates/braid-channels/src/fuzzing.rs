//! What the fuzz targets (`fuzz/fuzz_targets/`) do with an input, in one place, so the stable
//! test that replays their corpora and saved crashes (`tests/fuzz_corpus.rs`) runs exactly the
//! calls the fuzzer found them with. Not an API: nothing else calls it.
//!
//! Each function takes the fuzzer's bytes and must not panic, loop or blow up on any of them;
//! the calls are the ones the server makes on mail from the Internet.

use chrono::{DateTime, Utc};

use crate::email::providers::{self, Delivered};
use crate::email::tokens::ReplyTokens;
use crate::email::{self, html, reply};

/// For the targets that run [`email::prepare`]: a panic inside mail-parser (its debug
/// assertions on some malformed nesting; see `fuzz/regressions/mime_parse/`) is one `prepare`
/// catches and survives, keeping the mail raw as the server does, so it may unwind to that
/// catch. Any other panic still aborts at once, for libFuzzer to report. Call it from a
/// target's `init`, after libfuzzer-sys has installed its aborting hook.
pub fn abort_on_panics_outside_mail_parser() {
    let aborting = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|at| at.file().contains("mail-parser")) {
            aborting(info);
        }
    }));
}

/// A raw message as the inbound endpoints take it: all the CPU work between delivery and
/// placement ([`email::prepare`]: parse, caps, reply split, sanitise, bounce ids).
pub fn mime_parse(raw: &[u8]) {
    prepare(Delivered::Raw(raw.to_vec()), raw);
}

/// Postmark's webhook JSON: read, then what it yields prepared as the server does.
pub fn postmark(json: &[u8]) {
    if let Ok(delivered) = providers::postmark(json) {
        prepare(delivered, json);
    }
}

/// A text body and, after the first NUL byte if there is one, an HTML body, split as
/// `inbound` splits a message; the text alone split too, and checked to lose no character.
pub fn reply_split(data: &[u8]) {
    let (text, html) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(String::from_utf8_lossy(&data[nul + 1..]))),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    let _ = reply::split_message(&text, html.as_deref());
    let split = reply::split(&text);
    assert_keeps_every_character(&text, &split);
}

/// An HTML body, sanitised for showing and turned into text, as a message's HTML part is.
pub fn html_sanitise(data: &[u8]) {
    let Ok(html) = std::str::from_utf8(data) else { return };
    let _ = html::sanitise(html);
    let _ = reply::html_to_text(html);
}

/// What braid-api's `accept` does before storing anything, with the default caps, a fixed
/// time and key (a saved input replays the same way on every run).
fn prepare(delivered: Delivered, request_body: &[u8]) {
    let tokens = ReplyTokens::new(b"fuzzing", "support@braid.test");
    let _ =
        email::prepare(delivered, request_body, Some(&tokens), &email::Limits::default(), DateTime::<Utc>::UNIX_EPOCH);
}

/// `reply`'s promise: every visible character of the body lands in `text`, `quoted` or
/// `signature`, once. Letters, digits and ASCII punctuation are compared, a subset of what
/// the unit tests compare, so this cannot fail where they would not.
fn assert_keeps_every_character(body: &str, split: &reply::Reply) {
    let visible = |parts: &[&str]| {
        let mut chars: Vec<char> = parts
            .iter()
            .flat_map(|part| part.chars())
            .filter(|c| c.is_alphanumeric() || c.is_ascii_punctuation())
            .collect();
        chars.sort_unstable();
        chars
    };
    let parts = [split.text.as_str(), split.quoted.as_deref().unwrap_or(""), split.signature.as_deref().unwrap_or("")];
    assert!(visible(&[body]) == visible(&parts), "characters lost or invented: {body:?} became {split:#?}");
}
