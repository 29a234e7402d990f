//! Reply stripping measured on other reply parsers' test suites, committed with the crate in
//! `tests/reply_fixtures/` (sources, commits and licences in its README). Unlike the shared
//! corpora these are split into a **dev** set, which the rules were tuned on, and a
//! **held-out** set, scored only to report how the rules do on mail they were not fitted to.
//! A file is held out when the FNV-1a hash of `source/name` is divisible by three: fixed
//! before any tuning, and blind to content.
//!
//! A case passes when Braid's `text` equals the expected new text after whitespace
//! normalisation (every run of whitespace, line breaks included, is one space; ends trimmed).
//! Held-out failures are listed only with `BRAID_SHOW_HELDOUT=1`, so tuning stays blind to them.
//! (The held-out rate was printed while tuning, so it is no longer blind; talon's inline tests
//! were imported afterwards as a blind set and scored once, then their failures were read and
//! their classes fixed, so they are seen now; `BRAID_SHOW_BLIND=1` lists their failures. The
//! current blind set is mail-parser-reply's, in `mailparser_reply.rs`.)

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use braid_channels::email::parse::parse;
use braid_channels::email::reply::{Reply, split, split_message};

/// Achieved when written: dev 75/81 (92.6%), held-out 46/52 (88.5%); later dev 75/81, held-out
/// 49/52 (94.2%, no longer blind), then 50/52 (96.2%); see docs/reply-stripping.md.
const DEV_FLOOR: f64 = 0.90;
const HELD_OUT_FLOOR: f64 = 0.90;
/// talon's inline tests: blind when first scored, 34/46 (73.9%); its failures were then read
/// and their classes fixed (not the fixtures), so it is seen now: 43/46 (93.5%), then 46/46
/// once a sign-off under a quote became the reply's signature.
const BLIND_FLOOR: f64 = 0.95;

struct Case {
    source: &'static str,
    name: String,
    reply: Reply,
    expected: String,
    /// The case is a forward, whose `Reply::forwarded` must be set.
    forward: bool,
}

#[test]
fn reply_stripping_generalises_to_other_parsers_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reply_fixtures");
    let mut cases = discourse(&root.join("discourse"));
    cases.extend(crisp(&root.join("crisp")));
    cases.extend(talon(&root.join("talon")));
    let show_held_out = std::env::var_os("BRAID_SHOW_HELDOUT").is_some();

    let mut report = String::new();
    let _ = writeln!(report, "{:<10} {:>14} {:>14}", "source", "dev", "held-out");
    let mut totals = [(0, 0), (0, 0)];
    let mut failures = String::new();
    for source in ["discourse", "crisp", "talon"] {
        let mut tally = [(0, 0), (0, 0)];
        for case in cases.iter().filter(|c| c.source == source) {
            let held = usize::from(held_out(source, &case.name));
            let ok = words(&shown(case)) == words(&case.expected) && (!case.forward || case.reply.forwarded);
            tally[held].1 += 1;
            totals[held].1 += 1;
            if ok {
                tally[held].0 += 1;
                totals[held].0 += 1;
            } else if held == 0 || show_held_out {
                let set = if held == 0 { "dev" } else { "held-out" };
                let _ = writeln!(
                    failures,
                    "FAIL {source}/{} ({set}{})\n     text:     {:?}\n     expected: {:?}",
                    case.name,
                    if case.forward { ", a forward" } else { "" },
                    around_difference(&shown(case), &case.expected),
                    around_difference(&case.expected, &shown(case))
                );
            }
        }
        let _ = writeln!(report, "{source:<10} {:>14} {:>14}", rate(tally[0]), rate(tally[1]));
    }
    let _ = writeln!(report, "{:<10} {:>14} {:>14}", "overall", rate(totals[0]), rate(totals[1]));
    let blind = talon_inline(&root.join("talon_inline"));
    let blind_passed = blind.iter().filter(|c| words(&shown(c)) == words(&c.expected)).count();
    let _ = writeln!(
        report,
        "{:<10} {:>14} (seen; blind at first scoring: 34/46)",
        "talon-inline",
        rate((blind_passed, blind.len()))
    );
    if std::env::var_os("BRAID_SHOW_BLIND").is_some() {
        for case in blind.iter().filter(|c| words(&shown(c)) != words(&c.expected)) {
            let _ = writeln!(
                failures,
                "FAIL talon-inline/{} (blind)\n     text:     {:?}\n     expected: {:?}",
                case.name,
                around_difference(&shown(case), &case.expected),
                around_difference(&case.expected, &shown(case))
            );
        }
    }
    println!("{report}{failures}");
    let fraction = |(p, n): (usize, usize)| if n == 0 { 0.0 } else { p as f64 / n as f64 };
    assert!(fraction(totals[0]) >= DEV_FLOOR, "dev rate below {DEV_FLOOR}\n{report}");
    assert!(fraction(totals[1]) >= HELD_OUT_FLOOR, "held-out rate below {HELD_OUT_FLOOR}\n{report}");
    assert!(fraction((blind_passed, blind.len())) >= BLIND_FLOOR, "blind rate below {BLIND_FLOOR}\n{report}");
}

/// What is compared: `text`, and for talon `text` with the signature under it, because
/// talon's quotation extraction leaves signatures in (it has a separate signature extractor).
fn shown(case: &Case) -> String {
    match (&case.reply.signature, case.source) {
        (Some(signature), "talon" | "talon-inline") => format!("{}\n{signature}", case.reply.text),
        _ => case.reply.text.clone(),
    }
}

fn held_out(source: &str, name: &str) -> bool {
    let hash = format!("{source}/{name}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 3 == 0
}

fn rate((passed, total): (usize, usize)) -> String {
    let percent = if total == 0 { 0.0 } else { passed as f64 * 100.0 / total as f64 };
    format!("{passed}/{total} {percent:5.1}%")
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` from a little before where it first differs from `other`, clipped.
fn around_difference(s: &str, other: &str) -> String {
    let common = s.chars().zip(other.chars()).take_while(|(a, b)| a == b).count();
    s.chars().skip(common.saturating_sub(60)).take(240).collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn stem(path: &Path) -> String {
    path.file_stem().expect("file name").to_string_lossy().into_owned()
}

/// discourse/email_reply_trimmer: `emails/` and the expected `trimmed/` text. Two of Braid's
/// rules differ from discourse's and are applied by class, blind to the file's content beyond
/// the rule: a forward (`forwarded_*`) keeps everything in `text`, and a body that is only
/// quotes, every line `>` (discourse keeps it whole), has an empty `text`.
fn discourse(dir: &Path) -> Vec<Case> {
    files(&dir.join("emails"))
        .into_iter()
        .map(|path| {
            let name = stem(&path);
            let body = read(&path);
            let trimmed = read(&dir.join("trimmed").join(path.file_name().expect("name")));
            let forward = name.starts_with("forwarded_");
            let only_quotes = words(&trimmed) == words(&body)
                && body.lines().filter(|l| !l.trim().is_empty()).all(|l| l.trim_start().starts_with('>'));
            let expected = if forward {
                body.clone()
            } else if only_quotes {
                String::new()
            } else {
                trimmed
            };
            Case { source: "discourse", name, reply: split(&body), expected, forward }
        })
        .collect()
}

/// crisp-oss/email-reply-parser: the fixtures whose test states the first fragment's (or the
/// visible) text exactly.
fn crisp(dir: &Path) -> Vec<Case> {
    files(&dir.join("emails"))
        .into_iter()
        .map(|path| {
            let name = stem(&path);
            let expected = read(&dir.join("expected").join(path.file_name().expect("name")));
            Case { source: "crisp", name, reply: split(&read(&path)), expected, forward: false }
        })
        .collect()
}

/// mailgun/talon: HTML replies of nine clients (wrapped into an HTML-only message, so `text`
/// is mail-parser's conversion, as for real HTML-only mail) and twelve standard replies as
/// whole `.eml` messages, both through `split_message` as `inbound()` calls it.
fn talon(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut run = |name: String, raw: Vec<u8>| {
        let parsed = parse(&raw).expect("the fixture parses");
        let reply = split_message(&parsed.text, parsed.html.as_deref());
        let expected = read(&dir.join("expected").join(format!("{name}.txt")));
        cases.push(Case { source: "talon", name, reply, expected, forward: false });
    };
    for path in files(&dir.join("html_replies")) {
        let mut raw =
            b"From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n".to_vec();
        raw.extend(std::fs::read(&path).expect("fixture"));
        run(format!("html_replies/{}", stem(&path)), raw);
    }
    for path in files(&dir.join("standard_replies")) {
        run(format!("standard_replies/{}", stem(&path)), std::fs::read(&path).expect("fixture"));
    }
    cases
}

/// mailgun/talon's inline tests of `extract_from_plain` (`talon_inline/cases.json`, pulled out
/// by `extract.py`): the body and the reply text talon's test expects, through `split`.
/// Failures are listed only with `BRAID_SHOW_BLIND=1`.
fn talon_inline(dir: &Path) -> Vec<Case> {
    let cases: serde_json::Value =
        serde_json::from_str(&read(&dir.join("cases.json"))).expect("talon_inline/cases.json is JSON");
    cases
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(|case| {
            let text = |key: &str| case[key].as_str().unwrap_or_else(|| panic!("{key} in {case}")).to_owned();
            Case {
                source: "talon-inline",
                name: text("name"),
                reply: split(&text("body")),
                expected: text("expected"),
                forward: false,
            }
        })
        .collect()
}
