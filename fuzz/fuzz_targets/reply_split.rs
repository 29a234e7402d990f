//! Reply stripping: a text body, and an HTML body after the first NUL byte.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| braid_channels::fuzzing::reply_split(data));
