//! Typed reads from a YAML value that report what is wrong (with its path) instead of stopping.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::error::{Collector, index_path, key_path, suggestion};

/// The fields of a YAML mapping whose keys were all known.
pub(crate) struct Fields<'v> {
    pub(crate) path: String,
    values: BTreeMap<String, &'v Value>,
}

impl<'v> Fields<'v> {
    pub(crate) fn get(&self, key: &str) -> Option<&'v Value> {
        self.values.get(key).copied()
    }

    /// The path of one field, for reports.
    pub(crate) fn path_of(&self, key: &str) -> String {
        key_path(&self.path, key)
    }
}

/// The name of a YAML value's type, for "expected X, found Y".
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Reads a mapping with string keys, refusing keys outside `known` (with the nearest known key).
pub(crate) fn mapping<'v>(
    out: &mut Collector,
    path: &str,
    value: &'v Value,
    known: &[&str],
) -> Option<Fields<'v>> {
    let Value::Mapping(entries) = value else {
        out.report(path, format!("expected a mapping, found {}", type_name(value)));
        return None;
    };
    let mut values = BTreeMap::new();
    for (key, field) in entries {
        let Value::String(key) = key else {
            out.report(path, format!("keys must be strings, found {}", type_name(key)));
            continue;
        };
        if known.contains(&key.as_str()) {
            values.insert(key.clone(), field);
        } else {
            out.report(
                &key_path(path, key),
                format!("unknown key '{key}': {}", suggestion(key, known)),
            );
        }
    }
    Some(Fields {
        path: path.to_owned(),
        values,
    })
}

/// A required field: reports its absence.
pub(crate) fn required<'v>(out: &mut Collector, fields: &Fields<'v>, key: &str) -> Option<&'v Value> {
    let value = fields.get(key);
    if value.is_none() {
        out.report(&fields.path, format!("'{key}' is required"));
    }
    value
}

pub(crate) fn string(out: &mut Collector, path: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Null
        | Value::Bool(_)
        | Value::Number(_)
        | Value::Sequence(_)
        | Value::Mapping(_)
        | Value::Tagged(_) => {
            out.report(path, format!("expected a string, found {}", type_name(value)));
            None
        }
    }
}

/// A string, number or boolean as text: the source of a template argument.
pub(crate) fn scalar_text(out: &mut Collector, path: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => {
            out.report(path, format!("expected a string, found {}", type_name(value)));
            None
        }
    }
}

pub(crate) fn boolean(out: &mut Collector, path: &str, value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Null
        | Value::String(_)
        | Value::Number(_)
        | Value::Sequence(_)
        | Value::Mapping(_)
        | Value::Tagged(_) => {
            out.report(
                path,
                format!("expected true or false, found {}", type_name(value)),
            );
            None
        }
    }
}

/// A whole number in `min..=u32::MAX`.
pub(crate) fn count(out: &mut Collector, path: &str, value: &Value, min: u32) -> Option<u32> {
    let number = value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= min);
    if number.is_none() {
        out.report(
            path,
            format!(
                "expected a whole number of at least {min}, found {}",
                describe(value)
            ),
        );
    }
    number
}

/// A list, each item read by `item` with its own path.
pub(crate) fn list<T>(
    out: &mut Collector,
    path: &str,
    value: &Value,
    mut item: impl FnMut(&mut Collector, &str, &Value) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Sequence(items) = value else {
        out.report(path, format!("expected a list, found {}", type_name(value)));
        return None;
    };
    let mut read = Vec::with_capacity(items.len());
    let mut complete = true;
    for (i, value) in items.iter().enumerate() {
        match item(out, &index_path(path, i), value) {
            Some(one) => read.push(one),
            None => complete = false,
        }
    }
    complete.then_some(read)
}

/// A mapping of names to values, each value read by `item` with its own path.
pub(crate) fn map<T>(
    out: &mut Collector,
    path: &str,
    value: &Value,
    mut item: impl FnMut(&mut Collector, &str, &Value) -> Option<T>,
) -> Option<BTreeMap<String, T>> {
    let Value::Mapping(entries) = value else {
        out.report(path, format!("expected a mapping, found {}", type_name(value)));
        return None;
    };
    let mut read = BTreeMap::new();
    let mut complete = true;
    for (key, value) in entries {
        let Value::String(key) = key else {
            out.report(path, format!("keys must be strings, found {}", type_name(key)));
            complete = false;
            continue;
        };
        match item(out, &key_path(path, key), value) {
            Some(one) => {
                read.insert(key.clone(), one);
            }
            None => complete = false,
        }
    }
    complete.then_some(read)
}

/// A short rendering of a scalar for messages: `"abc"`, `12`, or its type.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => {
            type_name(value).to_owned()
        }
    }
}
