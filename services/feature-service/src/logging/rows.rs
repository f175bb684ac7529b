//! Served rows as the monitor's `LogRows` takes them in JSON: one object per row, keyed by the
//! feature columns' names as the online answer names them, plus `timestamp` (RFC 3339).

use chrono::{DateTime, SecondsFormat, Utc};
use lathe_contract::features::v1 as pb;
use serde_json::{Map, Value as Json};

/// The field of a logged row that holds the time of the read.
pub const TIMESTAMP: &str = "timestamp";

/// Rows `picked` of the answer's feature columns (join keys left out), read at `read_at`.
pub fn logged_rows(features: &[pb::FeatureColumn], picked: &[usize], read_at: DateTime<Utc>) -> Vec<Json> {
    let timestamp = Json::String(read_at.to_rfc3339_opts(SecondsFormat::Micros, true));
    picked
        .iter()
        .map(|&row| {
            let mut object = Map::with_capacity(features.len() + 1);
            for column in features {
                let value = column.values.get(row).map_or(Json::Null, json_value);
                object.insert(column.name.clone(), value);
            }
            object.insert(TIMESTAMP.to_owned(), timestamp.clone());
            Json::Object(object)
        })
        .collect()
}

/// A served value in JSON: numbers as numbers (a non-finite float, which JSON cannot hold, as
/// null: the monitor counts both as missing), timestamps as RFC 3339, bytes as hex, lists as
/// arrays, an unset value (not found, expired or null) as null.
pub fn json_value(value: &pb::Value) -> Json {
    use pb::value::Kind;
    match &value.kind {
        None => Json::Null,
        Some(Kind::Int32Value(v)) => Json::from(*v),
        Some(Kind::Int64Value(v)) => Json::from(*v),
        Some(Kind::FloatValue(v)) => finite(f64::from(*v)),
        Some(Kind::DoubleValue(v)) => finite(*v),
        Some(Kind::BoolValue(v)) => Json::Bool(*v),
        Some(Kind::StringValue(v)) => Json::String(v.clone()),
        Some(Kind::BytesValue(v)) => Json::String(v.iter().map(|b| format!("{b:02x}")).collect()),
        Some(Kind::TimestampUs(us)) => DateTime::<Utc>::from_timestamp_micros(*us).map_or(Json::Null, |t| {
            Json::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))
        }),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(json_value).collect()),
    }
}

fn finite(v: f64) -> Json {
    serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
}

#[cfg(test)]
mod tests {
    use pb::value::Kind;
    use serde_json::json;

    use super::*;

    fn value(kind: Kind) -> pb::Value {
        pb::Value { kind: Some(kind) }
    }

    #[test]
    fn rows_are_keyed_by_the_served_names_with_the_read_time() {
        let columns = vec![
            pb::FeatureColumn {
                name: "stats__rate".to_owned(),
                values: vec![value(Kind::DoubleValue(0.5)), pb::Value::default()],
                ..Default::default()
            },
            pb::FeatureColumn {
                name: "city".to_owned(),
                values: vec![
                    value(Kind::StringValue("a".into())),
                    value(Kind::StringValue("b".into())),
                ],
                ..Default::default()
            },
        ];
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            logged_rows(&columns, &[1], at),
            [json!({"stats__rate": null, "city": "b", "timestamp": "2023-11-14T22:13:20.000000Z"})]
        );
    }

    #[test]
    fn every_kind_of_value_has_a_json_form() {
        assert_eq!(json_value(&value(Kind::Int32Value(-3))), json!(-3));
        assert_eq!(json_value(&value(Kind::Int64Value(1 << 40))), json!(1_i64 << 40));
        assert_eq!(json_value(&value(Kind::FloatValue(0.5))), json!(0.5));
        assert_eq!(json_value(&value(Kind::DoubleValue(f64::NAN))), Json::Null);
        assert_eq!(json_value(&value(Kind::DoubleValue(f64::INFINITY))), Json::Null);
        assert_eq!(json_value(&value(Kind::BoolValue(true))), json!(true));
        assert_eq!(
            json_value(&value(Kind::BytesValue(vec![0, 255].into()))),
            json!("00ff")
        );
        assert_eq!(
            json_value(&value(Kind::TimestampUs(1_500_000))),
            json!("1970-01-01T00:00:01.500000Z")
        );
        assert_eq!(
            json_value(&value(Kind::ListValue(pb::ValueList {
                values: vec![value(Kind::Int64Value(1)), pb::Value::default()],
            }))),
            json!([1, null])
        );
    }
}
