//! Keyset pagination. A page ends where the next begins: the last row's sort value and
//! id. Rows inserted meanwhile never shift later pages, unlike offsets.
//!
//! Every list writes "after the cursor" as `at >= c.at AND (at > c.at OR id > c.id)`
//! (mirrored for descending orders), not `at > c.at OR (at = c.at AND id > c.id)`: the
//! leading `>=` becomes an index range bound, so page 1,000 costs what page 1 does, where
//! the `OR` form walks and discards every earlier row (see docs/benchmarks.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where the next page starts: just past this row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(n: &i32) -> Cursor {
        Cursor { at: DateTime::UNIX_EPOCH, id: n.to_string() }
    }

    #[test]
    fn an_extra_row_means_another_page() {
        let page = Page::from_rows(vec![1, 2, 3], 2, cursor);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next.unwrap().id, "2");
        let last = Page::from_rows(vec![1, 2], 2, cursor);
        assert_eq!(last.next, None);
    }
}
