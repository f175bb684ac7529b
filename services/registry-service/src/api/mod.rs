//! The gRPC API of the registry-service.

pub mod artifacts;
pub mod models;
pub mod projects;
pub mod search;
pub mod tracking;

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use lathe_common::{Error, Result};

/// Default and largest page sizes of list and search calls.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

pub fn page_size(requested: u32) -> Result<u64> {
    match requested {
        0 => Ok(u64::from(DEFAULT_PAGE_SIZE)),
        n if n > MAX_PAGE_SIZE => Err(Error::invalid(format!(
            "page_size must be at most {MAX_PAGE_SIZE}"
        ))),
        n => Ok(u64::from(n)),
    }
}

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
            Error::invalid("page_token is not one this server issued").with_reason("invalid_page_token")
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

/// String maps are stored as sorted JSON objects.
pub fn map_to_json(map: &HashMap<String, String>) -> serde_json::Value {
    let sorted: BTreeMap<&String, &String> = map.iter().collect();
    serde_json::to_value(sorted).unwrap_or_default()
}

pub fn json_to_map(value: serde_json::Value) -> HashMap<String, String> {
    serde_json::from_value(value).unwrap_or_default()
}

/// Applies tag edits to a stored map, validating keys and values.
pub fn edit_tags(
    stored: serde_json::Value,
    set: &HashMap<String, String>,
    delete: &[String],
) -> Result<serde_json::Value> {
    let mut tags = json_to_map(stored);
    validate_tags(set)?;
    for key in delete {
        tags.remove(key);
    }
    tags.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(map_to_json(&tags))
}

pub fn validate_tags(tags: &HashMap<String, String>) -> Result<()> {
    for (key, value) in tags {
        crate::domain::names::key("tag key", key)?;
        if value.len() > crate::domain::names::MAX_TAG_VALUE_LEN {
            return Err(Error::invalid(format!(
                "tag '{key}': values are at most {} bytes",
                crate::domain::names::MAX_TAG_VALUE_LEN
            )));
        }
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
