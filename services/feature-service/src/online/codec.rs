//! The compact binary encoding of values and rows, shared by both stores.
//!
//! A value is a tag byte then its payload, little-endian: `0` null, `1` i32, `2` i64, `3` f32,
//! `4` f64, `5` bool (one byte), `6` string and `7` bytes (u32 length, then the bytes),
//! `8` timestamp (i64 µs), `9` list (u32 count, then that many values). A row is a format byte
//! (`1`), the event time (i64), a created flag byte and created time (i64), a u32 feature count
//! and per feature a u32 name length, the name and the value. The format is stable: stored
//! data outlives the process that wrote it.

use super::error::OnlineError;
use super::model::{FeatureRow, Value};

const NULL: u8 = 0;
const INT32: u8 = 1;
const INT64: u8 = 2;
const FLOAT32: u8 = 3;
const FLOAT64: u8 = 4;
const BOOL: u8 = 5;
const STRING: u8 = 6;
const BYTES: u8 = 7;
const TIMESTAMP: u8 = 8;
const LIST: u8 = 9;

const ROW_FORMAT: u8 = 1;
/// Deeper nesting than this is taken for corruption rather than recursed into.
const MAX_LIST_DEPTH: usize = 32;

pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(NULL),
        Value::Int32(v) => {
            out.push(INT32);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Int64(v) => {
            out.push(INT64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Float32(v) => {
            out.push(FLOAT32);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Float64(v) => {
            out.push(FLOAT64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Bool(v) => {
            out.push(BOOL);
            out.push(u8::from(*v));
        }
        Value::String(s) => {
            out.push(STRING);
            encode_len_prefixed(s.as_bytes(), out);
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            encode_len_prefixed(b, out);
        }
        Value::Timestamp(v) => {
            out.push(TIMESTAMP);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::List(items) => {
            out.push(LIST);
            out.extend_from_slice(&len_u32(items.len()).to_le_bytes());
            for item in items {
                encode_value(item, out);
            }
        }
    }
}

#[cfg(test)]
pub fn value_to_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_value(value, &mut out);
    out
}

/// Decodes one whole value; trailing bytes are corruption.
#[cfg(test)]
pub fn value_from_bytes(bytes: &[u8]) -> Result<Value, OnlineError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    reader.finish()?;
    Ok(value)
}

pub fn encode_row(row: &FeatureRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + row.values.len() * 24);
    out.push(ROW_FORMAT);
    out.extend_from_slice(&row.event_ts_us.to_le_bytes());
    out.push(u8::from(row.created_ts_us.is_some()));
    out.extend_from_slice(&row.created_ts_us.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&len_u32(row.values.len()).to_le_bytes());
    for (name, value) in &row.values {
        encode_len_prefixed(name.as_bytes(), &mut out);
        encode_value(value, &mut out);
    }
    out
}

/// Decodes a whole row, every stored name included (serving decodes with
/// [`decode_projected_row`]).
#[cfg(test)]
pub fn decode_row(bytes: &[u8]) -> Result<FeatureRow, OnlineError> {
    let mut reader = Reader { bytes, pos: 0 };
    let (event_ts_us, created_ts_us) = reader.version()?;
    let count = reader.u32()? as usize;
    // A corrupted count must not make us allocate gigabytes: each feature takes ≥ 5 bytes.
    let mut values = Vec::with_capacity(count.min(reader.remaining() / 5));
    for _ in 0..count {
        let name = reader.string()?;
        let value = reader.value(0)?;
        values.push((name, value));
    }
    reader.finish()?;
    Ok(FeatureRow {
        event_ts_us,
        created_ts_us,
        values,
    })
}

/// Decodes a row cut down to `features`, in their order, `Null` where the row lacks one: what
/// [`decode_row`] and `project_row` give together, without allocating the stored names.
pub fn decode_projected_row(bytes: &[u8], features: &[String]) -> Result<FeatureRow, OnlineError> {
    let mut reader = Reader { bytes, pos: 0 };
    let (event_ts_us, created_ts_us) = reader.version()?;
    let count = reader.u32()? as usize;
    let mut values: Vec<(String, Value)> = features.iter().map(|name| (name.clone(), Value::Null)).collect();
    // As in `project_row`, the first stored value of a name wins.
    let mut filled = vec![false; features.len()];
    for _ in 0..count {
        let name = reader.str()?;
        let value = reader.value(0)?;
        for ((wanted, slot), filled) in values.iter_mut().zip(&mut filled) {
            if !*filled && wanted == name {
                *slot = value.clone();
                *filled = true;
            }
        }
    }
    reader.finish()?;
    Ok(FeatureRow {
        event_ts_us,
        created_ts_us,
        values,
    })
}

/// The (event, created) version of an encoded row, without decoding its values.
pub fn decode_row_version(bytes: &[u8]) -> Result<(i64, Option<i64>), OnlineError> {
    Reader { bytes, pos: 0 }.version()
}

fn encode_len_prefixed(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn len_u32(len: usize) -> u32 {
    // Redis and redb both cap a value far below 4 GiB, so a longer one cannot be stored anyway.
    u32::try_from(len).expect("online values are smaller than 4 GiB")
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], OnlineError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(OnlineError::Corrupted(format!(
                "truncated: wanted {n} bytes at offset {} of {}",
                self.pos,
                self.bytes.len()
            )));
        };
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], OnlineError> {
        let slice = self.take(N)?;
        Ok(slice.try_into().expect("take returns exactly N bytes"))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8, OnlineError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, OnlineError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, OnlineError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn len_prefixed(&mut self) -> Result<&'a [u8], OnlineError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// The row format byte, checked, then the row's (event, created) version.
    fn version(&mut self) -> Result<(i64, Option<i64>), OnlineError> {
        let format = self.u8()?;
        if format != ROW_FORMAT {
            return Err(OnlineError::Corrupted(format!("unknown row format {format}")));
        }
        let event_ts_us = self.i64()?;
        let has_created = self.u8()? != 0;
        let created = self.i64()?;
        Ok((event_ts_us, has_created.then_some(created)))
    }

    fn string(&mut self) -> Result<String, OnlineError> {
        self.str().map(str::to_owned)
    }

    fn str(&mut self) -> Result<&'a str, OnlineError> {
        let bytes = self.len_prefixed()?;
        std::str::from_utf8(bytes).map_err(|e| OnlineError::Corrupted(format!("string: {e}")))
    }

    fn value(&mut self, depth: usize) -> Result<Value, OnlineError> {
        let tag = self.u8()?;
        Ok(match tag {
            NULL => Value::Null,
            INT32 => Value::Int32(i32::from_le_bytes(self.array()?)),
            INT64 => Value::Int64(self.i64()?),
            FLOAT32 => Value::Float32(f32::from_le_bytes(self.array()?)),
            FLOAT64 => Value::Float64(f64::from_le_bytes(self.array()?)),
            BOOL => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(OnlineError::Corrupted(format!("bool byte {other}"))),
            },
            STRING => Value::String(self.string()?),
            BYTES => Value::Bytes(self.len_prefixed()?.to_vec()),
            TIMESTAMP => Value::Timestamp(self.i64()?),
            LIST => {
                if depth >= MAX_LIST_DEPTH {
                    return Err(OnlineError::Corrupted("lists nested too deeply".into()));
                }
                let count = self.u32()? as usize;
                let mut items = Vec::with_capacity(count.min(self.remaining()));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            other => return Err(OnlineError::Corrupted(format!("unknown value tag {other}"))),
        })
    }

    fn finish(&self) -> Result<(), OnlineError> {
        if self.pos != self.bytes.len() {
            return Err(OnlineError::Corrupted(format!(
                "{} trailing bytes",
                self.bytes.len() - self.pos
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i32>().prop_map(Value::Int32),
            any::<i64>().prop_map(Value::Int64),
            any::<f32>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Float32),
            any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Float64),
            any::<bool>().prop_map(Value::Bool),
            ".*".prop_map(Value::String),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
            any::<i64>().prop_map(Value::Timestamp),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Value::List)
        })
    }

    proptest! {
        #[test]
        fn online_codec_round_trips_rows(
            event in any::<i64>(),
            created in any::<Option<i64>>(),
            values in proptest::collection::vec(("[a-z_]{0,8}", any_value()), 0..6),
        ) {
            let row = FeatureRow { event_ts_us: event, created_ts_us: created, values };
            let bytes = encode_row(&row);
            prop_assert_eq!(decode_row(&bytes).unwrap(), row.clone());
            prop_assert_eq!(decode_row_version(&bytes).unwrap(), (event, created));
            for (_, value) in &row.values {
                prop_assert_eq!(&value_from_bytes(&value_to_bytes(value)).unwrap(), value);
            }
        }

        #[test]
        fn online_codec_projects_while_decoding_as_project_row_does(
            values in proptest::collection::vec(("[a-c]{1}", any_value()), 0..6),
            features in proptest::collection::vec("[a-d]{1}", 0..5),
        ) {
            let row = FeatureRow { event_ts_us: 7, created_ts_us: None, values };
            let bytes = encode_row(&row);
            prop_assert_eq!(
                decode_projected_row(&bytes, &features).unwrap(),
                crate::online::project_row(decode_row(&bytes).unwrap(), &features)
            );
        }

        #[test]
        fn online_codec_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_row(&bytes);
            let _ = decode_projected_row(&bytes, &["a".to_owned()]);
            let _ = value_from_bytes(&bytes);
        }
    }

    #[test]
    fn online_codec_reports_corruption() {
        let row = FeatureRow {
            event_ts_us: 1,
            created_ts_us: None,
            values: vec![("f".into(), Value::from("text"))],
        };
        let bytes = encode_row(&row);
        assert!(matches!(
            decode_row(&bytes[..bytes.len() - 1]),
            Err(OnlineError::Corrupted(_))
        ));
        assert!(matches!(value_from_bytes(&[42]), Err(OnlineError::Corrupted(_))));
        assert!(matches!(
            value_from_bytes(&[NULL, 0]),
            Err(OnlineError::Corrupted(_))
        ));
        // A list that claims four billion items must fail, not allocate.
        assert!(matches!(
            value_from_bytes(&[LIST, 255, 255, 255, 255]),
            Err(OnlineError::Corrupted(_))
        ));
    }
}
