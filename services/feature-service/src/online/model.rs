//! What an online store holds: values, entity keys and rows.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use super::error::OnlineError;

/// A feature value as stored online.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    List(Vec<Value>),
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int32(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

/// Names a row may not use for a feature: the Redis store keeps its metadata under them.
pub const RESERVED_FEATURE_NAMES: [&str; 2] = ["_ts", "_created"];

/// Rejects feature names that collide with store metadata.
pub fn check_feature_name(name: &str) -> Result<(), OnlineError> {
    if RESERVED_FEATURE_NAMES.contains(&name) {
        return Err(OnlineError::InvalidArgument(format!(
            "feature name '{name}' is reserved by the online store"
        )));
    }
    Ok(())
}

/// One entity: its join keys and their values, ordered by join key name.
///
/// Its [`Display`](fmt::Display) form is the canonical encoding both stores key rows by,
/// e.g. `customer_id=42,merchant="acme"`: names are sorted; integers print in decimal whatever
/// their width (so `Int32(7)` and `Int64(7)` are the same entity), strings in double quotes,
/// bytes as `0x` + hex, timestamps as `ts:` + microseconds; `%`, `"`, `,` and `=` are
/// percent-escaped where they could be ambiguous. The form is stable: changing it orphans
/// every stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityKey {
    parts: Vec<(String, Value)>,
}

impl EntityKey {
    /// An entity identified by one or more join keys. Join key values must be integers,
    /// strings, bytes, booleans or timestamps; names must be distinct.
    pub fn new<N, V>(parts: impl IntoIterator<Item = (N, V)>) -> Result<EntityKey, OnlineError>
    where
        N: Into<String>,
        V: Into<Value>,
    {
        let mut parts: Vec<(String, Value)> = parts.into_iter().map(|(n, v)| (n.into(), v.into())).collect();
        if parts.is_empty() {
            return Err(OnlineError::InvalidArgument(
                "an entity key needs at least one join key".into(),
            ));
        }
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        for pair in parts.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(OnlineError::InvalidArgument(format!(
                    "join key '{}' appears twice in an entity key",
                    pair[0].0
                )));
            }
        }
        for (name, value) in &parts {
            match value {
                Value::Int32(_)
                | Value::Int64(_)
                | Value::Bool(_)
                | Value::String(_)
                | Value::Bytes(_)
                | Value::Timestamp(_) => {}
                Value::Null | Value::Float32(_) | Value::Float64(_) | Value::List(_) => {
                    return Err(OnlineError::InvalidArgument(format!(
                        "join key '{name}' cannot be {value:?}: use an integer, string, bytes, \
                         bool or timestamp"
                    )));
                }
            }
        }
        Ok(EntityKey { parts })
    }

    /// An entity identified by a single join key.
    pub fn single(name: impl Into<String>, value: impl Into<Value>) -> Result<EntityKey, OnlineError> {
        EntityKey::new([(name.into(), value.into())])
    }

    /// The (join key, value) pairs, ordered by join key name.
    pub fn parts(&self) -> &[(String, Value)] {
        &self.parts
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write_escaped(f, name, &['%', ',', '=', '"'])?;
            f.write_char('=')?;
            match value {
                Value::Int32(v) => write!(f, "{v}")?,
                Value::Int64(v) => write!(f, "{v}")?,
                Value::Bool(v) => write!(f, "{v}")?,
                Value::Timestamp(v) => write!(f, "ts:{v}")?,
                Value::String(s) => {
                    f.write_char('"')?;
                    write_escaped(f, s, &['%', '"'])?;
                    f.write_char('"')?;
                }
                Value::Bytes(bytes) => {
                    f.write_str("0x")?;
                    for b in bytes {
                        write!(f, "{b:02x}")?;
                    }
                }
                // EntityKey::new admits none of these.
                Value::Null | Value::Float32(_) | Value::Float64(_) | Value::List(_) => {
                    return Err(fmt::Error);
                }
            }
        }
        Ok(())
    }
}

/// Writes `s` with each char of `special` as `%XX`.
pub(crate) fn write_escaped(out: &mut impl fmt::Write, s: &str, special: &[char]) -> fmt::Result {
    if !s.contains(special) {
        return out.write_str(s);
    }
    for c in s.chars() {
        if special.contains(&c) {
            write!(out, "%{:02X}", c as u32)?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// The latest values of a feature view for one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// When the values were observed (µs UTC); the newest event wins.
    pub event_ts_us: i64,
    /// When the row was produced (µs UTC); breaks ties between rows of the same event time.
    pub created_ts_us: Option<i64>,
    /// (feature name, value); the names in [`RESERVED_FEATURE_NAMES`] are not allowed.
    pub values: Vec<(String, Value)>,
}

impl FeatureRow {
    /// Orders rows by version: event time, then creation time (a missing one is the oldest).
    pub fn version_cmp(&self, other: &FeatureRow) -> Ordering {
        version_cmp(
            (self.event_ts_us, self.created_ts_us),
            (other.event_ts_us, other.created_ts_us),
        )
    }
}

/// Orders (event, created) versions; `None` created sorts before every `Some`.
pub fn version_cmp(a: (i64, Option<i64>), b: (i64, Option<i64>)) -> Ordering {
    a.0.cmp(&b.0).then(a.1.cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_entity_keys_are_canonical() {
        let a = EntityKey::new([
            ("merchant", Value::from("acme")),
            ("customer_id", Value::Int64(42)),
        ])
        .unwrap();
        let b = EntityKey::new([
            ("customer_id", Value::Int32(42)),
            ("merchant", Value::from("acme")),
        ])
        .unwrap();
        assert_eq!(a.to_string(), r#"customer_id=42,merchant="acme""#);
        assert_eq!(a.to_string(), b.to_string());
    }

    #[test]
    fn online_entity_key_encoding_separates_lookalikes() {
        let keys = [
            EntityKey::single("id", 42i64).unwrap(),
            EntityKey::single("id", "42").unwrap(),
            EntityKey::single("id", Value::Timestamp(42)).unwrap(),
            EntityKey::single("id", Value::Bytes(vec![0x42])).unwrap(),
            EntityKey::single("id", r#"a",b="c"#).unwrap(),
            EntityKey::new([("id", Value::from("a")), ("b", Value::from("c"))]).unwrap(),
            EntityKey::single("id", "%22").unwrap(),
            EntityKey::single("id", "\"").unwrap(),
        ];
        let encoded: std::collections::HashSet<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(encoded.len(), keys.len(), "{encoded:?}");
        assert_eq!(keys[4].to_string(), r#"id="a%22,b=%22c""#);
    }

    #[test]
    fn online_entity_keys_reject_bad_join_keys() {
        assert!(EntityKey::new(Vec::<(String, Value)>::new()).is_err());
        assert!(EntityKey::single("id", Value::Null).is_err());
        assert!(EntityKey::single("id", 1.5).is_err());
        assert!(EntityKey::new([("id", 1i64), ("id", 2i64)]).is_err());
    }

    #[test]
    fn online_versions_compare_event_then_created() {
        assert_eq!(version_cmp((2, None), (1, Some(9))), Ordering::Greater);
        assert_eq!(version_cmp((1, Some(2)), (1, Some(1))), Ordering::Greater);
        assert_eq!(version_cmp((1, None), (1, Some(i64::MIN))), Ordering::Less);
        assert_eq!(version_cmp((1, Some(1)), (1, Some(1))), Ordering::Equal);
    }
}
