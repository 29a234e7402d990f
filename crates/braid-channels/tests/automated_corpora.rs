//! The bounce, auto-reply and non-bounce corpus (`shared/corpora/bounces`): machine mail
//! must be recognised as automated, so it never opens or reopens a ticket, and the
//! messages upstream files as not bounces must not be mistaken for machine mail.

#![expect(clippy::unwrap_used, reason = "a test fails loudly at its first surprise")]

use std::path::{Path, PathBuf};

use braid_channels::email::{automated, parse};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/bounces");
    if dir.exists() {
        return Some(dir);
    }
    assert!(std::env::var("CI").is_err(), "CI runs beside shared/: {} is missing", dir.display());
    eprintln!("skipping: {} is not present", dir.display());
    None
}

fn messages(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

fn classify(raw: &[u8]) -> Option<&'static str> {
    parse::parse(raw).and_then(|email| automated::detect(&email)).map(|a| a.reason())
}

#[test]
fn every_bounce_and_auto_reply_is_recognised_as_automated() {
    let Some(corpus) = corpus() else { return };
    let mut missed = Vec::new();
    let mut total = 0;
    for folder in ["bounces", "auto_replies"] {
        for (name, raw) in messages(&corpus.join(folder)) {
            total += 1;
            if classify(&raw).is_none() {
                missed.push(format!("{folder}/{name}"));
            }
        }
    }
    println!("automated mail recognised: {}/{total}", total - missed.len());
    assert!(missed.is_empty(), "not recognised as automated: {missed:#?}");
}

#[test]
fn messages_that_are_not_bounces_are_not_taken_for_delivery_reports() {
    let Some(corpus) = corpus() else { return };
    for (name, raw) in messages(&corpus.join("not_bounces")) {
        assert_ne!(classify(&raw), Some("delivery_report"), "{name}");
    }
}
