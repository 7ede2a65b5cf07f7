//! Cursor pagination shared by every list: page sizes and cutting a page.

use keys_domain::Error;
use serde::Serialize;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u32 = 100;
/// Most digits of a row cursor: every 18-digit number fits SQLite's rowids, and the OpenAPI
/// document can state the rule as a pattern (`^[1-9][0-9]{0,17}$`).
pub const MAX_CURSOR_DIGITS: usize = 18;

/// One page of a list: `{"data": [...], "next_cursor": "..."}`, `next_cursor` null on the
/// last page.
#[derive(Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
}

/// A whole, unpaginated list: `{"data": [...]}`.
#[derive(Serialize)]
pub struct List<T> {
    /// Every item.
    pub data: Vec<T>,
}

/// Parses a `limit` query parameter: an integer from 1 to [`MAX_LIMIT`].
pub fn parse_limit(value: &str) -> Result<u32, Error> {
    value
        .parse::<u32>()
        .ok()
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .ok_or_else(|| {
            Error::bad_request(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
        })
}

/// Parses a row cursor (`next_cursor` of a key or event page): a positive decimal number
/// written as this API writes it, without sign, leading zero or more than
/// [`MAX_CURSOR_DIGITS`] digits.
pub fn parse_cursor(value: &str) -> Result<i64, Error> {
    let canonical = (1..=MAX_CURSOR_DIGITS).contains(&value.len())
        && !value.starts_with('0')
        && value.bytes().all(|b| b.is_ascii_digit());
    canonical
        .then(|| value.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| Error::bad_request("cursor is not one this API returned"))
}

/// Cuts rows fetched with `LIMIT limit + 1` into the page and the cursor of the next one
/// (the cursor of the page's last row, when a further row exists).
pub fn cut_page<T, C>(
    mut rows: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> C,
) -> (Vec<T>, Option<C>) {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        let next = rows.last().map(cursor_of);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert_eq!(parse_limit("1").unwrap(), 1);
        assert_eq!(parse_limit("100").unwrap(), 100);
        for bad in ["0", "101", "-1", "abc", ""] {
            assert_eq!(parse_limit(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn cursors_are_positive_numbers_written_as_the_api_writes_them() {
        assert_eq!(parse_cursor("1").unwrap(), 1);
        assert_eq!(
            parse_cursor("999999999999999999").unwrap(),
            999_999_999_999_999_999
        );
        for bad in [
            "",
            "0",
            "01",
            "+5",
            "-5",
            " 5",
            "5 ",
            "1e3",
            "1000000000000000000",
        ] {
            assert_eq!(parse_cursor(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_more_rows_exist() {
        assert_eq!(cut_page(vec![1, 2, 3], 2, |n| *n), (vec![1, 2], Some(2)));
        assert_eq!(cut_page(vec![1, 2], 2, |n| *n), (vec![1, 2], None));
        assert_eq!(cut_page(Vec::<i32>::new(), 2, |n| *n), (vec![], None));
    }
}
