//! What one event contributes to an aggregation ([`Datum`]), taken the same way from a Parquet
//! column (offline) and from a pushed value (online), so both sides aggregate the same inputs.
//!
//! Numeric functions read integers, floats and decimals as `f64`; a NaN counts as missing.
//! Count and distinct count take any scalar: a distinct count hashes the value, integers of any
//! width (and integral floats, booleans and timestamps in microseconds) as the same 64-bit
//! integer, so a value pushed as `3` and stored as `3.0` is one value.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};

use crate::definitions::spec::AggregateFunction;
use crate::online::Value;

/// One event's input to one aggregation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Datum {
    /// A value is there (count).
    Present,
    /// The value as a number (sum, mean, min, max, stddev, last).
    Number(f64),
    /// The value's hash (distinct count).
    Hash(u64),
}

const TAG_INT: u8 = 0;
const TAG_FLOAT: u8 = 1;
const TAG_STRING: u8 = 2;
const TAG_BYTES: u8 = 3;

/// FNV-1a over a tag and the bytes, then the murmur3 finaliser to spread the bits: stable
/// across versions and processes (sketches are stored), unlike the standard library's hasher.
fn hash_tagged(tag: u8, bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in std::iter::once(&tag).chain(bytes) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// A string's hash, as a distinct count takes it.
pub fn hash_tagged_str(value: &str) -> u64 {
    hash_tagged(TAG_STRING, value.as_bytes())
}

pub fn hash_int(value: i64) -> u64 {
    hash_tagged(TAG_INT, &value.to_le_bytes())
}

pub fn hash_float(value: f64) -> u64 {
    if value.fract() == 0.0 && value >= i64::MIN as f64 && value < i64::MAX as f64 {
        return hash_int(value as i64);
    }
    hash_tagged(TAG_FLOAT, &value.to_bits().to_le_bytes())
}

/// A number as a function reads it: NaN is missing.
fn number(value: f64) -> Option<Datum> {
    (!value.is_nan()).then_some(Datum::Number(value))
}

/// What a pushed `value` contributes to `function`; `Err` says why the value does not fit.
pub fn from_value(function: AggregateFunction, value: &Value) -> Result<Option<Datum>, String> {
    let as_number = match value {
        Value::Null => return Ok(None),
        Value::Int32(v) => Some(f64::from(*v)),
        Value::Int64(v) => Some(*v as f64),
        Value::Float32(v) => Some(f64::from(*v)),
        Value::Float64(v) => Some(*v),
        Value::Bool(_) | Value::String(_) | Value::Bytes(_) | Value::Timestamp(_) | Value::List(_) => None,
    };
    if as_number.is_some_and(f64::is_nan) {
        return Ok(None);
    }
    match function {
        AggregateFunction::Count => Ok(Some(Datum::Present)),
        AggregateFunction::ApproxCountDistinct => {
            let hash = match value {
                Value::Int32(v) => hash_int(i64::from(*v)),
                Value::Int64(v) | Value::Timestamp(v) => hash_int(*v),
                Value::Bool(v) => hash_int(i64::from(*v)),
                Value::Float32(v) => hash_float(f64::from(*v)),
                Value::Float64(v) => hash_float(*v),
                Value::String(v) => hash_tagged(TAG_STRING, v.as_bytes()),
                Value::Bytes(v) => hash_tagged(TAG_BYTES, v),
                Value::Null | Value::List(_) => {
                    return Err("a distinct count takes a scalar, not a list".to_owned());
                }
            };
            Ok(Some(Datum::Hash(hash)))
        }
        AggregateFunction::Sum
        | AggregateFunction::Mean
        | AggregateFunction::Min
        | AggregateFunction::Max
        | AggregateFunction::Stddev
        | AggregateFunction::Last => match as_number {
            Some(v) => Ok(number(v)),
            None => Err(format!("{} needs a number", function.name())),
        },
    }
}

/// Reads one column of a source batch for one function, row by row.
#[derive(Debug)]
pub enum ColumnData {
    /// Count: whether each row has a value.
    Presence(ArrayRef),
    Numbers(arrow::array::Float64Array),
    Hashes(Vec<Option<u64>>),
}

impl ColumnData {
    /// Prepares `column` for `function`; `Err` names the type that does not fit.
    pub fn new(function: AggregateFunction, column: &ArrayRef) -> Result<ColumnData, String> {
        let data_type = column.data_type();
        let numeric = data_type.is_numeric();
        match function {
            AggregateFunction::Count => Ok(ColumnData::Presence(column.clone())),
            AggregateFunction::ApproxCountDistinct => hashes(column).map(ColumnData::Hashes),
            AggregateFunction::Sum
            | AggregateFunction::Mean
            | AggregateFunction::Min
            | AggregateFunction::Max
            | AggregateFunction::Stddev
            | AggregateFunction::Last => {
                if !numeric {
                    return Err(format!(
                        "{} needs a numeric column, not {data_type}",
                        function.name()
                    ));
                }
                let floats = cast(column, &DataType::Float64).map_err(|e| e.to_string())?;
                Ok(ColumnData::Numbers(floats.as_primitive::<Float64Type>().clone()))
            }
        }
    }

    pub fn get(&self, row: usize) -> Option<Datum> {
        match self {
            ColumnData::Presence(column) => {
                if column.is_null(row) {
                    return None;
                }
                // A float NaN is missing, as it is to the numeric functions.
                let nan = if let Some(floats) = column.as_primitive_opt::<Float64Type>() {
                    floats.value(row).is_nan()
                } else if let Some(floats) = column.as_primitive_opt::<arrow::datatypes::Float32Type>() {
                    floats.value(row).is_nan()
                } else {
                    false
                };
                (!nan).then_some(Datum::Present)
            }
            ColumnData::Numbers(values) => {
                if values.is_null(row) {
                    None
                } else {
                    number(values.value(row))
                }
            }
            ColumnData::Hashes(hashes) => hashes[row].map(Datum::Hash),
        }
    }
}

/// Each row's hash, as [`from_value`] hashes the same value pushed.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "arrow's DataType is foreign and large: every type not listed is refused"
)]
fn hashes(column: &ArrayRef) -> Result<Vec<Option<u64>>, String> {
    let data_type = column.data_type();
    let each = |hash: &dyn Fn(usize) -> u64| -> Vec<Option<u64>> {
        (0..column.len())
            .map(|row| column.is_valid(row).then(|| hash(row)))
            .collect()
    };
    match data_type {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let floats = cast(column, &DataType::Float64).map_err(|e| e.to_string())?;
            let floats = floats.as_primitive::<Float64Type>();
            Ok((0..column.len())
                .map(|row| {
                    (floats.is_valid(row) && !floats.value(row).is_nan())
                        .then(|| hash_float(floats.value(row)))
                })
                .collect())
        }
        DataType::Timestamp(unit, _) => {
            let ints = cast(column, &DataType::Int64).map_err(|e| e.to_string())?;
            let ints = ints.as_primitive::<Int64Type>();
            let scale = match unit {
                TimeUnit::Second => 1_000_000,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1,
                TimeUnit::Nanosecond => 0,
            };
            Ok(each(&|row| {
                let v = ints.value(row);
                hash_int(if scale == 0 {
                    v.div_euclid(1_000)
                } else {
                    v * scale
                })
            }))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let strings = cast(column, &DataType::Utf8).map_err(|e| e.to_string())?;
            let strings = strings.as_string::<i32>();
            Ok(each(&|row| {
                hash_tagged(TAG_STRING, strings.value(row).as_bytes())
            }))
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes = cast(column, &DataType::Binary).map_err(|e| e.to_string())?;
            let bytes = bytes.as_binary::<i32>();
            Ok(each(&|row| hash_tagged(TAG_BYTES, bytes.value(row))))
        }
        DataType::Boolean => {
            let bools = column.as_boolean();
            Ok(each(&|row| hash_int(i64::from(bools.value(row)))))
        }
        t if t.is_integer() => {
            let ints = cast(column, &DataType::Int64).map_err(|e| e.to_string())?;
            let ints = ints.as_primitive::<Int64Type>();
            Ok(each(&|row| hash_int(ints.value(row))))
        }
        other => Err(format!(
            "approx_count_distinct takes integers, floats, strings, bytes, booleans or timestamps, not {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float32Array, Int32Array, StringArray};

    use super::*;

    #[test]
    fn aggregation_datums_agree_between_pushed_values_and_columns() {
        let distinct = AggregateFunction::ApproxCountDistinct;
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(3), None]));
        let floats: ArrayRef = Arc::new(Float32Array::from(vec![Some(3.0), Some(0.5)]));
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        let from_ints = ColumnData::new(distinct, &ints).unwrap();
        let from_floats = ColumnData::new(distinct, &floats).unwrap();
        assert_eq!(from_ints.get(0), from_value(distinct, &Value::Int64(3)).unwrap());
        assert_eq!(from_floats.get(0), from_ints.get(0), "3.0 and 3 are one value");
        assert_eq!(
            from_floats.get(1),
            from_value(distinct, &Value::Float32(0.5)).unwrap()
        );
        assert_eq!(from_ints.get(1), None);
        let from_strings = ColumnData::new(distinct, &strings).unwrap();
        assert_eq!(from_strings.get(0), from_value(distinct, &"a".into()).unwrap());
        assert_ne!(
            from_strings.get(0),
            from_value(distinct, &Value::Bytes(b"a".to_vec())).unwrap()
        );

        let sum = AggregateFunction::Sum;
        assert_eq!(
            ColumnData::new(sum, &ints).unwrap().get(0),
            Some(Datum::Number(3.0))
        );
        assert_eq!(from_value(sum, &Value::Float64(f64::NAN)).unwrap(), None);
        assert!(ColumnData::new(sum, &strings).unwrap_err().contains("numeric"));
        assert!(
            from_value(sum, &"a".into())
                .unwrap_err()
                .contains("sum needs a number")
        );
        let count = AggregateFunction::Count;
        let nan: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![f64::NAN, 1.0]));
        let presence = ColumnData::new(count, &nan).unwrap();
        assert_eq!((presence.get(0), presence.get(1)), (None, Some(Datum::Present)));
    }
}
