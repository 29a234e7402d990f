//! HTML bodies: sanitised for showing, and turned into text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| braid_channels::fuzzing::html_sanitise(data));
