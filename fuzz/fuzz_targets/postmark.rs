//! Postmark's inbound webhook JSON, and the message it yields handled as the server does.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| braid_channels::fuzzing::postmark(data));
