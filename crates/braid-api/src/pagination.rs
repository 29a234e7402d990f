//! Cursor pagination on the wire: `?limit=&cursor=` in, `{data, next_cursor}` out. The
//! cursor is opaque to clients (base64 of the last row's sort key and id).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use braid_db::{Cursor, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, ErrorCode};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            limit @ 1..=MAX_LIMIT => Ok(i64::from(limit)),
            other => Err(ApiError::new(ErrorCode::ValidationFailed, format!("limit is 1 to {MAX_LIMIT}, not {other}"))
                .with_extra(serde_json::json!({ "field": "limit" }))),
        }
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.cursor.as_deref().map(decode).transpose()
    }
}

/// A cursor's fields are checked as what they are, a row id (a UUID) and a time a row can
/// hold, before any reaches the database: a forged one is a `400`, never a query error.
/// Public for the fuzz target (`fuzz/fuzz_targets/cursor.rs`): clients send any string.
pub fn decode(cursor: &str) -> Result<Cursor, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Cursor>(&bytes).ok())
        .and_then(|cursor| {
            let id = uuid::Uuid::parse_str(&cursor.id).ok()?;
            (1..=9999)
                .contains(&chrono::Datelike::year(&cursor.at))
                .then(|| Cursor { at: cursor.at, id: id.to_string() })
        })
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "invalid cursor; pass back a `next_cursor` unchanged"))
}

fn encode(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    pub fn new(data: Vec<T>, next: Option<&Cursor>) -> Self {
        Paged { data, next_cursor: next.map(encode) }
    }

    pub fn from_page<U>(page: Page<U>, view: impl FnMut(U) -> T) -> Self {
        let next_cursor = page.next.as_ref().map(encode);
        Paged { data: page.items.into_iter().map(view).collect(), next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor { at: chrono::Utc::now(), id: uuid::Uuid::now_v7().to_string() };
        assert_eq!(decode(&encode(&cursor)).unwrap(), cursor);
        assert!(decode("not a cursor").is_err());
        assert!(decode(&encode(&Cursor { at: chrono::Utc::now(), id: "x\0".into() })).is_err(), "not a UUID");
        let far = chrono::DateTime::from_timestamp(8_000_000_000_000, 0).unwrap();
        assert!(
            decode(&encode(&Cursor { at: far, id: uuid::Uuid::now_v7().to_string() })).is_err(),
            "no row is that late"
        );
    }

    /// The fuzz target's seeds and saved crashes (`fuzz/corpus/cursor/`,
    /// `fuzz/regressions/cursor/`), replayed on stable as `fuzz_targets/cursor.rs` feeds them.
    #[test]
    fn cursors_the_fuzzer_kept_are_decoded_or_refused_without_a_panic() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut files = Vec::new();
        for dir in [fuzz.join("corpus/cursor"), fuzz.join("regressions/cursor")] {
            if dir.exists() {
                files.extend(std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()));
            }
        }
        assert!(!files.is_empty(), "no cursor corpus under {}", fuzz.display());
        for file in files {
            let input = std::fs::read(&file).unwrap();
            if let Ok(cursor) = std::str::from_utf8(&input) {
                let _ = decode(cursor);
            }
        }
        // The fuzzer starts from a real cursor: the seed must still be one if the format moves.
        let seed = std::fs::read_to_string(fuzz.join("corpus/cursor/valid")).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2024-06-03T09:12:00Z").unwrap().to_utc();
        let cursor = Cursor { at, id: "01900000-0000-7000-8000-000000000000".into() };
        assert_eq!(seed, encode(&cursor));
        assert_eq!(decode(&seed).unwrap(), cursor);
    }

    #[test]
    fn limits_are_bounded() {
        let params = |limit| PageParams { limit, cursor: None };
        assert_eq!(params(None).limit().unwrap(), 50);
        assert_eq!(params(Some(200)).limit().unwrap(), 200);
        assert!(params(Some(0)).limit().is_err());
        assert!(params(Some(201)).limit().is_err());
    }
}
