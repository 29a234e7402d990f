//! A second blind set: alfonsrv/mail-parser-reply's tests (`reply_fixtures/mailparser_reply/`,
//! MIT), imported before the round that generalised the rules by class and scored once at its
//! end. Its tests assert pieces of each reply rather than whole texts, so each test is one case
//! and passes when all of its checks hold, mapped to Braid's [`Reply`] by rules fixed before
//! scoring (whitespace normalised as in `external.rs`):
//!
//! - the newest reply (`replies[0]`): `body` checks are made on `text` (a trailing rule line of
//!   dashes in an expected body is dropped: it opens the header block that follows);
//!   `signatures`/`content` checks on `text` and `signature` together. A "not in body" check on a
//!   line that the test also puts in the signature is skipped: Braid keeps an unmarked sign-off
//!   ("Pozdrawiam,\nJan") in `text` by design.
//! - older replies (`replies[1..]`): "in" checks are made on `quoted`, with `>` markers removed;
//!   how the quoted history splits into replies is not Braid's concern ("not in" is skipped).
//! - `len(replies) == 1` means `quoted` is `None`; more than one means it is `Some`.
//!
//! A case whose fixture is byte-identical to one in `shared/corpora` was seen while tuning and
//! is counted apart.

use braid_channels::email::reply::{Reply, split};
use serde_json::Value;
use std::path::Path;

/// Fixtures byte-identical to files of the shared corpora (seen while tuning).
const SEEN: [&str; 8] = [
    "email_1_1",
    "email_1_3",
    "email_1_4",
    "email_1_6",
    "email_1_8",
    "email_2_1",
    "email_sent_from_BlackBerry",
    "email_sent_from_iPhone",
];
const SEEN_TOO: &str = "email_sent_from_multi_word_mobile_device";

pub struct Outcome {
    pub name: String,
    pub seen: bool,
    pub failed: Vec<String>,
}

pub fn score(dir: &Path) -> Vec<Outcome> {
    let raw = std::fs::read_to_string(dir.join("cases.json")).expect("mailparser_reply/cases.json");
    let cases: Value = serde_json::from_str(&raw).expect("cases.json is JSON");
    let mut outcomes = Vec::new();
    for case in cases["cases"].as_array().expect("cases") {
        let fixture = case["fixture"].as_str().expect("fixture");
        let bytes = std::fs::read(dir.join("emails").join(format!("{fixture}.txt"))).expect("fixture file");
        let reply = split(&String::from_utf8_lossy(&bytes));
        let checks = case["checks"].as_array().expect("checks");
        let failed =
            checks.iter().filter(|check| !holds(check, checks, &reply)).map(|check| check.to_string()).collect();
        outcomes.push(Outcome {
            name: case["name"].as_str().expect("name").to_owned(),
            seen: SEEN.contains(&fixture) || fixture == SEEN_TOO,
            failed,
        });
    }
    outcomes
}

fn holds(check: &Value, all: &[Value], reply: &Reply) -> bool {
    let op = check["op"].as_str().unwrap_or_default();
    let field = check["field"].as_str().unwrap_or_default();
    if field == "count" {
        let n = check["value"].as_u64().unwrap_or_default();
        return (n == 1) == reply.quoted.is_none();
    }
    let value = check["value"].as_str().unwrap_or_default();
    let text = words(&reply.text);
    let with_signature = words(&format!("{}\n{}", reply.text, reply.signature.as_deref().unwrap_or("")));
    if check["reply"].as_u64() == Some(0) {
        match (field, op) {
            ("body", "eq") => text == words(&drop_trailing_rule(value)),
            ("body", "in") => text.contains(&words(value)),
            ("body", "not_in") => {
                let sign_off = all.iter().any(|c| {
                    c["reply"].as_u64() == Some(0)
                        && c["field"] == "signatures"
                        && c["value"] == check["value"]
                        && c["op"] != "not_in"
                });
                sign_off || !text.contains(&words(value))
            }
            (_, "not_in") => !with_signature.contains(&words(value)),
            _ => with_signature.contains(&words(value)),
        }
    } else {
        if op == "not_in" {
            return true;
        }
        let quoted = unquoted(reply.quoted.as_deref().unwrap_or(""));
        quoted.contains(&unquoted(value))
    }
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn unquoted(s: &str) -> String {
    words(&s.lines().map(|l| l.trim_start().trim_start_matches(['>', ' '])).collect::<Vec<_>>().join("\n"))
}

fn drop_trailing_rule(s: &str) -> String {
    let mut lines: Vec<&str> = s.trim_end().lines().collect();
    while lines.last().is_some_and(|l| !l.trim().is_empty() && l.trim().chars().all(|c| matches!(c, '-' | '_' | '='))) {
        lines.pop();
    }
    lines.join("\n")
}

/// Scored once, at the end of the round that generalised the rules by class: 19/22 (86.4%)
/// blind, 10/10 seen (the rules before that round score the same); its failures were read
/// then, so it is seen now: 20/22 after header-first messages became forwards. See
/// docs/reply-stripping.md.
const BLIND_FLOOR: f64 = 0.90;

#[test]
fn reply_stripping_on_mail_parser_replys_suite() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reply_fixtures/mailparser_reply");
    let outcomes = score(&dir);
    let tally = |seen: bool| {
        let set: Vec<&Outcome> = outcomes.iter().filter(|o| o.seen == seen).collect();
        (set.iter().filter(|o| o.failed.is_empty()).count(), set.len())
    };
    let (blind, seen) = (tally(false), tally(true));
    println!(
        "mail-parser-reply  {}/{} ({:.1}%; blind at first scoring: 19/22), in shared corpora {}/{}",
        blind.0,
        blind.1,
        blind.0 as f64 * 100.0 / blind.1.max(1) as f64,
        seen.0,
        seen.1
    );
    if std::env::var_os("BRAID_SHOW_BLIND").is_some() {
        for outcome in outcomes.iter().filter(|o| !o.failed.is_empty()) {
            println!(
                "FAIL mail-parser-reply/{}{}: {}",
                outcome.name,
                if outcome.seen { " (seen)" } else { "" },
                outcome.failed.join("; ")
            );
        }
    }
    assert!(blind.0 as f64 >= BLIND_FLOOR * blind.1 as f64, "mail-parser-reply blind rate below {BLIND_FLOOR}");
}
