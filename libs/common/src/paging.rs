//! Pages of list calls: their sizes, and keyset tokens. A token is the key of the last item of
//! its page, hex-encoded so that clients treat it as opaque and it travels in a URL as it is;
//! the next page starts strictly after that key, so pages neither overlap nor skip while items
//! are added or removed between calls.

use crate::error::{Error, Result};
use crate::reasons;

/// Default and largest page sizes of a list call.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// How many items a page holds at most: `requested`, the default for 0; more than
/// [`MAX_PAGE_SIZE`] is refused.
pub fn page_size(requested: u32) -> Result<u64> {
    match requested {
        0 => Ok(u64::from(DEFAULT_PAGE_SIZE)),
        n if n > MAX_PAGE_SIZE => {
            Err(Error::invalid(format!("page_size must be at most {MAX_PAGE_SIZE}")).at("page_size"))
        }
        n => Ok(u64::from(n)),
    }
}

/// The refusal of a page token this server did not issue.
pub fn invalid_token() -> Error {
    Error::invalid("page_token is not one this server issued")
        .with_reason(reasons::INVALID_PAGE_TOKEN)
        .at("page_token")
}

/// The token of the page after the one whose last item has the key `last`.
pub fn encode_token(last: &str) -> String {
    last.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The key a page starts after: `None` for the first page (an empty token); a token this
/// server did not issue is refused with `invalid_page_token`.
pub fn decode_token(token: &str) -> Result<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    if !token.len().is_multiple_of(2) || !token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(invalid_token());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&token[at..at + 2], 16).map_err(|_| invalid_token()))
        .collect::<Result<Vec<u8>>>()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|key| !key.is_empty())
        .map(Some)
        .ok_or_else(invalid_token)
}

/// Cuts rows fetched with `limit + 1` down to `limit` and returns the token of the next page
/// (`encode_token` of the last row's key), or an empty token on the last page.
pub fn finish_page<T>(rows: &mut Vec<T>, limit: u64, key: impl Fn(&T) -> String) -> String {
    if rows.len() as u64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(|row| encode_token(&key(row))).unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn a_page_size_is_the_default_for_zero_and_refused_over_the_maximum() {
        assert_eq!(page_size(0).unwrap(), 100);
        assert_eq!(page_size(1).unwrap(), 1);
        assert_eq!(page_size(1000).unwrap(), 1000);
        let refused = page_size(1001).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidArgument);
        assert_eq!(refused.field.as_deref(), Some("page_size"));
    }

    #[test]
    fn a_token_gives_back_the_key_it_was_made_of() {
        for key in [
            "churn",
            "retrain-é",
            "é/ünïcode name",
            "a_b.c",
            "d:feature_view\nx",
        ] {
            assert_eq!(decode_token(&encode_token(key)).unwrap().as_deref(), Some(key));
        }
        assert_eq!(encode_token("ab"), "6162");
        assert_eq!(decode_token("").unwrap(), None);
    }

    #[test]
    fn a_token_this_server_did_not_issue_is_refused_as_such() {
        for token in [
            "bogus",
            "abc",
            "ABCD",
            "zz",
            "ff",
            "c3",
            "+1",
            "é1",
            "not a token",
        ] {
            let refused = decode_token(token).unwrap_err();
            assert_eq!(refused.reason, reasons::INVALID_PAGE_TOKEN.name, "{token}");
            assert_eq!(refused.field.as_deref(), Some("page_token"), "{token}");
        }
    }

    #[test]
    fn a_full_page_names_the_next_one_and_the_last_page_does_not() {
        let mut rows = vec!["a", "b", "c"];
        assert_eq!(finish_page(&mut rows, 2, |r| (*r).to_owned()), encode_token("b"));
        assert_eq!(rows, ["a", "b"]);
        let mut rows = vec!["a", "b"];
        assert_eq!(finish_page(&mut rows, 2, |r| (*r).to_owned()), "");
    }
}
