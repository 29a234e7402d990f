//! Postmark's inbound webhook JSON, and the message it yields handled as the server does.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: braid_channels::fuzzing::abort_on_panics_outside_mail_parser(),
    |data: &[u8]| braid_channels::fuzzing::postmark(data)
);
