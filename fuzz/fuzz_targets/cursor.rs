//! Pagination cursors: clients send any string back as `?cursor=`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cursor) = std::str::from_utf8(data) {
        let _ = braid_api::pagination::decode(cursor);
    }
});
