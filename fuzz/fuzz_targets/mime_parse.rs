//! Raw mail from the Internet: MIME parsing, the placement input built from it, bounce ids.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: braid_channels::fuzzing::abort_on_panics_outside_mail_parser(),
    |data: &[u8]| braid_channels::fuzzing::mime_parse(data)
);
