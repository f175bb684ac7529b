//! Feast's JSON for online feature values, written straight from the protobuf answer: no
//! intermediate `serde_json::Value` tree, no `String` per status or timestamp. This is the
//! serving hot path, where a 100-entity answer holds hundreds of each.

use std::io::Write;

use base64::Engine;
use chrono::{DateTime, SecondsFormat};
use lathe_contract::features::v1 as pb;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// One feature value as Feast writes it: numbers, booleans and strings as themselves, bytes
/// in base64, timestamps in RFC 3339 (UTC), lists as arrays, a missing value as null (so is a
/// float that JSON cannot hold: NaN or an infinity).
pub struct JsonValue(pub pb::Value);

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_value(&self.0, serializer)
    }
}

struct ValueRef<'a>(&'a pb::Value);

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_value(self.0, serializer)
    }
}

fn serialize_value<S: Serializer>(value: &pb::Value, serializer: S) -> Result<S::Ok, S::Error> {
    use pb::value::Kind;
    match &value.kind {
        None => serializer.serialize_unit(),
        Some(Kind::Int32Value(v)) => serializer.serialize_i32(*v),
        Some(Kind::Int64Value(v)) => serializer.serialize_i64(*v),
        Some(Kind::FloatValue(v)) if v.is_finite() => serializer.serialize_f64(f64::from(*v)),
        Some(Kind::DoubleValue(v)) if v.is_finite() => serializer.serialize_f64(*v),
        Some(Kind::FloatValue(_) | Kind::DoubleValue(_)) => serializer.serialize_unit(),
        Some(Kind::BoolValue(v)) => serializer.serialize_bool(*v),
        Some(Kind::StringValue(v)) => serializer.serialize_str(v),
        Some(Kind::BytesValue(v)) => {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
        }
        Some(Kind::TimestampUs(v)) => Timestamp(*v).serialize(serializer),
        Some(Kind::ListValue(list)) => {
            let mut seq = serializer.serialize_seq(Some(list.values.len()))?;
            for item in &list.values {
                seq.serialize_element(&ValueRef(item))?;
            }
            seq.end()
        }
    }
}

/// Microseconds since the epoch, written as RFC 3339 in UTC with as many fractional digits
/// as needed (none, 3 or 6): `2026-11-30T02:00:00Z`, `…:00.250Z`, `…:00.000001Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Years 0 to 9999 are formatted here, the rest (and nothing else) by chrono.
    const FAST_RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200_000_000..=253_402_300_799_999_999;

    fn write_to(self, out: &mut [u8; 32]) -> usize {
        let (seconds, micros) = (self.0.div_euclid(1_000_000), self.0.rem_euclid(1_000_000));
        let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let mut cursor = std::io::Cursor::new(&mut out[..]);
        let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
        // 20 to 27 bytes always fit the 32-byte buffer.
        let fits = "an RFC 3339 time fits 32 bytes";
        write!(
            cursor,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
        )
        .expect(fits);
        if micros % 1000 != 0 {
            write!(cursor, ".{micros:06}").expect(fits);
        } else if micros != 0 {
            write!(cursor, ".{:03}", micros / 1000).expect(fits);
        }
        write!(cursor, "Z").expect(fits);
        cursor.position() as usize
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !Self::FAST_RANGE.contains(&self.0) {
            let time = DateTime::from_timestamp_micros(self.0).unwrap_or_default();
            return serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        let mut buffer = [0u8; 32];
        let len = self.write_to(&mut buffer);
        serializer.serialize_str(std::str::from_utf8(&buffer[..len]).expect("ASCII digits and separators"))
    }
}

/// The proleptic Gregorian (year, month, day) of a day number counted from 1970-01-01, by
/// counting 400-year eras of 146,097 days from 0000-03-01 (so that leap days end a year).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A feature status as Feast names it.
pub fn status_name(status: i32) -> &'static str {
    match pb::FeatureStatus::try_from(status) {
        Ok(pb::FeatureStatus::Present) => "PRESENT",
        Ok(pb::FeatureStatus::NotFound) => "NOT_FOUND",
        Ok(pb::FeatureStatus::OutsideMaxAge) => "OUTSIDE_MAX_AGE",
        Ok(pb::FeatureStatus::Invalid) | Err(_) => "INVALID",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_form(micros: i64) -> String {
        DateTime::from_timestamp_micros(micros)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    fn json(value: impl Serialize) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn timestamps_match_chrono_across_the_calendar() {
        let mut micros: Vec<i64> = vec![
            0,
            -1,
            1,
            999_000,
            1_000_000,
            -86_400_000_000,
            951_782_400_000_000,   // 2000-02-29
            4_107_542_400_000_000, // 2100-03-01
            *Timestamp::FAST_RANGE.start(),
            *Timestamp::FAST_RANGE.end(),
            Timestamp::FAST_RANGE.start() - 1,
            Timestamp::FAST_RANGE.end() + 1,
        ];
        // Every day from 1899 to 2101 at a time of day that walks through the units.
        let mut at = -2_240_524_800_000_000i64;
        while at < 4_133_980_800_000_000 {
            micros.push(at);
            at += 86_400_000_000 + 3_600_001_001;
        }
        for micros in micros {
            assert_eq!(
                json(Timestamp(micros)),
                format!("\"{}\"", chrono_form(micros)),
                "{micros}"
            );
        }
    }

    #[test]
    fn values_are_written_as_feast_writes_them() {
        use pb::value::Kind;
        let value = |kind| JsonValue(pb::Value { kind: Some(kind) });
        assert_eq!(json(JsonValue(pb::Value::default())), "null");
        assert_eq!(json(value(Kind::Int64Value(-7))), "-7");
        assert_eq!(json(value(Kind::Int32Value(3))), "3");
        assert_eq!(json(value(Kind::FloatValue(0.5))), "0.5");
        assert_eq!(json(value(Kind::DoubleValue(f64::NAN))), "null");
        assert_eq!(json(value(Kind::FloatValue(f32::INFINITY))), "null");
        assert_eq!(json(value(Kind::BoolValue(true))), "true");
        assert_eq!(json(value(Kind::StringValue("a\"b".into()))), r#""a\"b""#);
        assert_eq!(json(value(Kind::BytesValue(vec![0, 255].into()))), r#""AP8=""#);
        assert_eq!(
            json(value(Kind::TimestampUs(1_500_000))),
            r#""1970-01-01T00:00:01.500Z""#
        );
        let list = Kind::ListValue(pb::ValueList {
            values: vec![
                pb::Value {
                    kind: Some(Kind::Int64Value(1)),
                },
                pb::Value::default(),
            ],
        });
        assert_eq!(json(value(list)), "[1,null]");
    }
}
