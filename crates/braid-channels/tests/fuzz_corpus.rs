//! The fuzz targets' seed corpora and saved crashes (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`), replayed through the same calls as the targets, on stable
//! and without cargo-fuzz: a crash once found and fixed stays fixed.

#![expect(clippy::unwrap_used, reason = "a test fails loudly at its first surprise")]

use std::path::Path;

use braid_channels::fuzzing;

/// Feeds every file kept for `target` to `run`, naming the file if it panics.
fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz.join(kind).join(target);
        if dir.exists() {
            files.extend(std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()));
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target} under {}", fuzz.display());
    for file in files {
        let input = std::fs::read(&file).unwrap();
        let replayed = std::panic::catch_unwind(|| run(&input));
        assert!(replayed.is_ok(), "{target} panicked on {}", file.display());
    }
}

#[test]
fn raw_mail_the_fuzzer_kept_is_parsed_and_built_without_a_panic() {
    replay("mime_parse", fuzzing::mime_parse);
}

#[test]
fn bodies_the_fuzzer_kept_split_without_a_panic_or_a_lost_character() {
    replay("reply_split", fuzzing::reply_split);
}

#[test]
fn html_the_fuzzer_kept_is_sanitised_without_a_panic() {
    replay("html_sanitise", fuzzing::html_sanitise);
}

#[test]
fn postmark_json_the_fuzzer_kept_is_read_without_a_panic() {
    replay("postmark", fuzzing::postmark);
}
