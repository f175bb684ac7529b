//! Pages of list and search calls: their sizes and their tokens.

use base64::Engine;
use lathe_common::reasons;
use lathe_common::{Error, Result};

// Sizes as every list of Lathe has them: 0 is the default, over the largest is refused.
pub use lathe_common::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_size};

/// Page tokens are opaque to clients: base64 of a position.
pub fn encode_token(position: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position.to_string())
}

pub fn decode_token(token: &str) -> Result<Option<i64>> {
    if token.is_empty() {
        return Ok(None);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Error::invalid("page_token is not one this server issued")
                .with_reason(reasons::INVALID_PAGE_TOKEN)
        })
}

/// Cuts a page fetched with `limit + 1` rows down to `limit` and returns the token of the
/// next page (the position of its last row), or an empty token on the last page.
pub fn finish_page<T>(rows: &mut Vec<T>, limit: u64, position: impl Fn(&T) -> i64) -> String {
    if rows.len() as u64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last()
            .map(|row| encode_token(position(row)))
            .unwrap_or_default()
    } else {
        String::new()
    }
}
