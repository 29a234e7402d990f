//! Raw mail from the Internet: MIME parsing, the placement input built from it, bounce ids.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| braid_channels::fuzzing::mime_parse(data));
