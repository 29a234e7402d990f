//! What the fuzz targets (`fuzz/fuzz_targets/`) do with an input, in one place, so the stable
//! test that replays their corpora and saved crashes (`tests/fuzz_corpus.rs`) runs exactly the
//! calls the fuzzer found them with. Not an API: nothing else calls it.
//!
//! Each function takes the fuzzer's bytes and must not panic, loop or blow up on any of them;
//! the calls are the ones the server makes on mail from the Internet.

use chrono::{DateTime, Utc};

use crate::blobs::Blob;
use crate::email::providers::{self, Delivered};
use crate::email::tokens::ReplyTokens;
use crate::email::{self, ParsedEmail, html, reply};

/// A raw message as the inbound endpoints take it: parsed, then built into the placement input
/// (or kept as unparseable), and read for the ids a bounce returns.
pub fn mime_parse(raw: &[u8]) {
    place(raw, email::parse::parse(raw));
}

/// Postmark's webhook JSON: read, then what it yields handled as the server does (a raw
/// message parsed, Postmark's own fields placed with the JSON as the original).
pub fn postmark(json: &[u8]) {
    match providers::postmark(json) {
        Ok(Delivered::Raw(raw)) => mime_parse(&raw),
        Ok(Delivered::Parsed(parsed)) => place(json, Some(*parsed)),
        Err(_) => {}
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

/// Builds the placement input the way braid-api's `accept` does, with the attachments' blobs
/// computed rather than stored (the fuzzer must not write files).
fn place(raw: &[u8], parsed: Option<ParsedEmail>) {
    let original = Blob::of(raw);
    // A fixed time and key: a saved input replays the same way on every run.
    let received_at = DateTime::<Utc>::UNIX_EPOCH;
    let tokens = ReplyTokens::new(b"fuzzing", "support@braid.test");
    match parsed {
        Some(parsed) => {
            let stored: Vec<Blob> = parsed.attachments.iter().map(|a| Blob::of(&a.bytes)).collect();
            let _ = email::inbound(&parsed, &original, &stored, Some(&tokens), received_at);
            let _ = email::automated::bounced_message_ids(raw, parsed.message_id.as_deref());
        }
        None => {
            let _ = email::unparseable(raw, &original, received_at);
        }
    }
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
