//! Tags of experiments, models and versions: their limits, edits, and their stored form (a
//! JSON object in key order).

use std::collections::{BTreeMap, HashMap};

use lathe_common::{Error, Result};

use super::names;

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
        names::key("tag key", key)?;
        if value.len() > names::MAX_TAG_VALUE_LEN {
            return Err(Error::invalid(format!(
                "tag '{key}': values are at most {} bytes",
                names::MAX_TAG_VALUE_LEN
            )));
        }
    }
    Ok(())
}
