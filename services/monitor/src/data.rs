//! Tables of samples in memory: read from Parquet, Arrow IPC or JSON rows, written as
//! Parquet. A [`Frame`] holds each column as the drift statistics take it: numbers (missing
//! as NaN) or categories (missing as `None`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::ColumnKind;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value as Json;

use crate::drift::Column;

/// The column of a logged row that names the prediction, for labels.
pub const PREDICTION_ID: &str = "prediction_id";
/// The column of a logged row that holds its time (milliseconds since the epoch when stored).
pub const TIMESTAMP: &str = "timestamp";

/// One column's values.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// NaN and ±inf are missing.
    Numeric(Vec<f64>),
    Categorical(Vec<Option<String>>),
}

impl Values {
    pub fn kind(&self) -> ColumnKind {
        match self {
            Values::Numeric(_) => ColumnKind::Numeric,
            Values::Categorical(_) => ColumnKind::Categorical,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Numeric(values) => values.len(),
            Values::Categorical(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn missing(&self) -> usize {
        match self {
            Values::Numeric(values) => values.iter().filter(|v| !v.is_finite()).count(),
            Values::Categorical(values) => values.iter().filter(|v| v.is_none()).count(),
        }
    }

    fn extend(&mut self, other: Values) -> std::result::Result<(), ColumnKind> {
        match (self, other) {
            (Values::Numeric(a), Values::Numeric(b)) => a.extend(b),
            (Values::Categorical(a), Values::Categorical(b)) => a.extend(b),
            (Values::Numeric(_), other @ Values::Categorical(_))
            | (Values::Categorical(_), other @ Values::Numeric(_)) => return Err(other.kind()),
        }
        Ok(())
    }
}

/// Borrowed views of categorical values, as [`Column::Categorical`] takes them.
pub fn categories(values: &[Option<String>]) -> Vec<Option<&str>> {
    values.iter().map(Option::as_deref).collect()
}

/// A column as the drift statistics take it; `buffer` holds the borrowed categories.
pub fn as_column<'a>(values: &'a Values, buffer: &'a mut Vec<Option<&'a str>>) -> Column<'a> {
    match values {
        Values::Numeric(numbers) => Column::Numeric(numbers),
        Values::Categorical(texts) => {
            *buffer = categories(texts);
            Column::Categorical(buffer)
        }
    }
}

/// Named columns of equal length. Columns that are neither numbers, booleans nor text (dates,
/// lists…) are left out, except the timestamp, kept in `times`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    pub rows: usize,
    pub columns: Vec<(String, Values)>,
    /// Milliseconds since the epoch of each row, when the data has a `timestamp` column.
    pub times: Option<Vec<Option<i64>>>,
}

impl Frame {
    pub fn column(&self, name: &str) -> Option<&Values> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Appends another frame's rows; a column missing from one side is missing-filled.
    pub fn append(&mut self, other: Frame) -> Result<()> {
        let before = self.rows;
        for (name, values) in other.columns {
            match self.columns.iter_mut().find(|(n, _)| *n == name) {
                Some((_, mine)) => mine.extend(values).map_err(|kind| {
                    Error::internal(format_args!(
                        "column '{name}' changed kind to {} between stored batches",
                        kind.as_str_name()
                    ))
                })?,
                None => {
                    let mut filled = missing_values(values.kind(), before);
                    let _ = filled.extend(values);
                    self.columns.push((name, filled));
                }
            }
        }
        self.rows += other.rows;
        for (_, values) in &mut self.columns {
            if values.len() < self.rows {
                let _ = values.extend(missing_values(values.kind(), self.rows - values.len()));
            }
        }
        match (&mut self.times, other.times) {
            (Some(mine), Some(theirs)) => mine.extend(theirs),
            (Some(mine), None) => mine.extend(std::iter::repeat_n(None, other.rows)),
            (None, Some(theirs)) => {
                let mut times = vec![None; before];
                times.extend(theirs);
                self.times = Some(times);
            }
            (None, None) => {}
        }
        Ok(())
    }
}

fn missing_values(kind: ColumnKind, n: usize) -> Values {
    match kind {
        ColumnKind::Categorical => Values::Categorical(vec![None; n]),
        ColumnKind::Numeric | ColumnKind::Unspecified => Values::Numeric(vec![f64::NAN; n]),
    }
}

fn invalid_dataset(message: impl std::fmt::Display) -> Error {
    Error::of(reasons::INVALID_DATASET, message.to_string())
}

/// A frame from the record batches of one file.
pub fn from_batches(batches: &[RecordBatch]) -> Frame {
    let mut frame = Frame::default();
    for batch in batches {
        // Appending frames of one schema cannot fail.
        let _ = frame.append(from_batch(batch));
    }
    frame
}

fn from_batch(batch: &RecordBatch) -> Frame {
    let mut columns = Vec::new();
    let mut times = None;
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.name() == TIMESTAMP {
            times = timestamps_millis(array);
            continue;
        }
        if let Some(values) = values_of(array) {
            columns.push((field.name().clone(), values));
        }
    }
    Frame {
        rows: batch.num_rows(),
        columns,
        times,
    }
}

/// The values of an Arrow column: numbers of any width as f64, booleans and text as
/// categories; `None` for other types.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "arrow's DataType is foreign: every other type (dates, lists, binary…) is not compared"
)]
fn values_of(array: &ArrayRef) -> Option<Values> {
    use arrow::datatypes::DataType as T;
    let numeric = |array: &ArrayRef| -> Option<Values> {
        let cast = arrow::compute::cast(array, &T::Float64).ok()?;
        let floats = cast.as_primitive::<arrow::datatypes::Float64Type>();
        Some(Values::Numeric(
            (0..floats.len())
                .map(|i| {
                    if floats.is_null(i) {
                        f64::NAN
                    } else {
                        floats.value(i)
                    }
                })
                .collect(),
        ))
    };
    match array.data_type() {
        T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::UInt8
        | T::UInt16
        | T::UInt32
        | T::UInt64
        | T::Float16
        | T::Float32
        | T::Float64
        | T::Decimal32(..)
        | T::Decimal64(..)
        | T::Decimal128(..)
        | T::Decimal256(..) => numeric(array),
        T::Boolean => {
            let bools = array.as_boolean();
            Some(Values::Categorical(
                (0..bools.len())
                    .map(|i| (!bools.is_null(i)).then(|| bools.value(i).to_string()))
                    .collect(),
            ))
        }
        T::Utf8 | T::LargeUtf8 | T::Utf8View | T::Dictionary(..) => {
            let cast = arrow::compute::cast(array, &T::Utf8).ok()?;
            let texts = cast.as_string::<i32>();
            Some(Values::Categorical(
                (0..texts.len())
                    .map(|i| (!texts.is_null(i)).then(|| texts.value(i).to_owned()))
                    .collect(),
            ))
        }
        _ => None,
    }
}

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "arrow's DataType is foreign: only times, dates and integers are times"
)]
fn timestamps_millis(array: &ArrayRef) -> Option<Vec<Option<i64>>> {
    let target = DataType::Timestamp(TimeUnit::Millisecond, None);
    let cast = match array.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            arrow::compute::cast(array, &target).ok()?
        }
        // Integers are milliseconds since the epoch.
        DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
            let ints = arrow::compute::cast(array, &DataType::Int64).ok()?;
            arrow::compute::cast(&ints, &target).ok()?
        }
        _ => return None,
    };
    let millis = cast.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    Some(
        (0..millis.len())
            .map(|i| (!millis.is_null(i)).then(|| millis.value(i)))
            .collect(),
    )
}

/// A Parquet file's rows.
pub fn read_parquet(bytes: Bytes) -> Result<Frame> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.with_batch_size(65_536).build())
        .map_err(|e| invalid_dataset(format_args!("not a readable Parquet file: {e}")))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid_dataset(format_args!("the Parquet file cannot be decoded: {e}")))?;
    Ok(from_batches(&batches))
}

/// An Arrow IPC stream's rows.
pub fn read_arrow_ipc(bytes: &[u8]) -> Result<Frame> {
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| log_mismatch(format_args!("the body is not an Arrow IPC stream: {e}")))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| log_mismatch(format_args!("the Arrow IPC stream cannot be decoded: {e}")))?;
    Ok(from_batches(&batches))
}

fn log_mismatch(message: impl std::fmt::Display) -> Error {
    Error::of(reasons::LOG_SCHEMA_MISMATCH, message.to_string())
}

/// Rows given as a JSON array of objects. A number is numeric, a string or boolean
/// categorical, `null` (or an absent key) missing; a column mixing numbers with strings is
/// refused, naming it. `timestamp` is RFC 3339 text or milliseconds since the epoch.
pub fn read_json_rows(bytes: &[u8]) -> Result<Frame> {
    let rows: Vec<serde_json::Map<String, Json>> = match serde_json::from_slice::<Json>(bytes) {
        Ok(Json::Array(rows)) => rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| match row {
                Json::Object(map) => Ok(map),
                Json::Null | Json::Bool(_) | Json::Number(_) | Json::String(_) | Json::Array(_) => Err(
                    log_mismatch(format_args!("rows[{i}]: a row must be a JSON object")),
                ),
            })
            .collect::<Result<_>>()?,
        Ok(_) => return Err(log_mismatch("the body must be a JSON array of row objects")),
        Err(e) => {
            return Err(Error::of(
                reasons::INVALID_BODY,
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    let mut names: Vec<String> = Vec::new();
    for row in &rows {
        for key in row.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    let mut frame = Frame {
        rows: rows.len(),
        ..Frame::default()
    };
    for name in names {
        if name == TIMESTAMP {
            let times = rows
                .iter()
                .enumerate()
                .map(|(i, row)| match row.get(&name) {
                    None | Some(Json::Null) => Ok(None),
                    Some(Json::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                        log_mismatch(format_args!(
                            "rows[{i}].timestamp: milliseconds must be an integer"
                        ))
                    }),
                    Some(Json::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
                        .map(|t| Some(t.timestamp_millis()))
                        .map_err(|e| {
                            log_mismatch(format_args!("rows[{i}].timestamp: '{text}' is not RFC 3339: {e}"))
                        }),
                    Some(Json::Bool(_) | Json::Array(_) | Json::Object(_)) => {
                        Err(log_mismatch(format_args!(
                            "rows[{i}].timestamp: give RFC 3339 text or milliseconds since the epoch"
                        )))
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            frame.times = Some(times);
            continue;
        }
        frame.columns.push((name.clone(), json_column(&name, &rows)?));
    }
    Ok(frame)
}

fn json_column(name: &str, rows: &[serde_json::Map<String, Json>]) -> Result<Values> {
    let kind = rows.iter().find_map(|row| match row.get(name) {
        Some(Json::Number(_)) => Some(ColumnKind::Numeric),
        Some(Json::String(_) | Json::Bool(_)) => Some(ColumnKind::Categorical),
        None | Some(Json::Null | Json::Array(_) | Json::Object(_)) => None,
    });
    let wrong = |i: usize, expected: &str| {
        log_mismatch(format_args!(
            "rows[{i}].{name}: expected {expected} like the column's other values"
        ))
    };
    match kind.unwrap_or(ColumnKind::Numeric) {
        ColumnKind::Categorical => rows
            .iter()
            .enumerate()
            .map(|(i, row)| match row.get(name) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(text)) => Ok(Some(text.clone())),
                Some(Json::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(wrong(i, "a string or boolean")),
            })
            .collect::<Result<_>>()
            .map(Values::Categorical),
        ColumnKind::Numeric | ColumnKind::Unspecified => rows
            .iter()
            .enumerate()
            .map(|(i, row)| match row.get(name) {
                None | Some(Json::Null) => Ok(f64::NAN),
                Some(Json::Number(n)) => n.as_f64().ok_or_else(|| wrong(i, "a number")),
                Some(_) => Err(wrong(i, "a number")),
            })
            .collect::<Result<_>>()
            .map(Values::Numeric),
    }
}

/// The frame as one Parquet file (zstd), numeric columns as f64, categories as text, the
/// times as a millisecond timestamp column `timestamp`.
pub fn write_parquet(frame: &Frame) -> Result<Vec<u8>> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, values) in &frame.columns {
        match values {
            Values::Numeric(numbers) => {
                fields.push(Field::new(name, DataType::Float64, true));
                arrays.push(Arc::new(Float64Array::from(numbers.clone())));
            }
            Values::Categorical(texts) => {
                fields.push(Field::new(name, DataType::Utf8, true));
                arrays.push(Arc::new(StringArray::from(texts.clone())));
            }
        }
    }
    if let Some(times) = &frame.times {
        fields.push(Field::new(
            TIMESTAMP,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ));
        arrays.push(Arc::new(TimestampMillisecondArray::from(times.clone())));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::try_new_with_options(
            schema,
            arrays,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(frame.rows)),
        )
    } else {
        RecordBatch::try_new(schema, arrays)
    }
    .map_err(|e| Error::internal(format_args!("cannot build the record batch: {e}")))?;
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))
        .map_err(|e| Error::internal(format_args!("cannot write Parquet: {e}")))?;
    writer
        .write(&batch)
        .and_then(|()| writer.into_inner())
        .map_err(|e| Error::internal(format_args!("cannot write Parquet: {e}")))
}

/// A boolean mask's selected rows of every column.
pub fn filter(frame: &Frame, keep: &[bool]) -> Frame {
    let pick_numbers = |values: &[f64]| -> Vec<f64> {
        values
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect()
    };
    let columns = frame
        .columns
        .iter()
        .map(|(name, values)| {
            let picked = match values {
                Values::Numeric(numbers) => Values::Numeric(pick_numbers(numbers)),
                Values::Categorical(texts) => Values::Categorical(
                    texts
                        .iter()
                        .zip(keep)
                        .filter(|(_, k)| **k)
                        .map(|(v, _)| v.clone())
                        .collect(),
                ),
            };
            (name.clone(), picked)
        })
        .collect();
    Frame {
        rows: keep.iter().filter(|k| **k).count(),
        columns,
        times: frame.times.as_ref().map(|times| {
            times
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| *v)
                .collect()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_round_trip_through_parquet() {
        let body = br#"[
            {"x": 1.5, "c": "a", "prediction_id": "p1", "timestamp": "2026-12-05T10:00:00Z"},
            {"x": null, "c": "b", "flag": true, "timestamp": 1796464800000},
            {"c": null}
        ]"#;
        let frame = read_json_rows(body).unwrap();
        assert_eq!(frame.rows, 3);
        let Some(Values::Numeric(x)) = frame.column("x") else {
            panic!("x is numeric")
        };
        assert_eq!(x[0], 1.5);
        assert!(x[1].is_nan() && x[2].is_nan());
        assert_eq!(
            frame.column("flag"),
            Some(&Values::Categorical(vec![None, Some("true".into()), None]))
        );
        let times = frame.times.clone().unwrap();
        assert_eq!(times[0], Some(1_796_464_800_000));
        assert_eq!(times[1], Some(1_796_464_800_000));
        assert_eq!(times[2], None);
        let back = read_parquet(Bytes::from(write_parquet(&frame).unwrap())).unwrap();
        assert_eq!(back.rows, 3);
        assert_eq!(back.column("c"), frame.column("c"));
        assert_eq!(back.times, frame.times);
    }

    #[test]
    fn a_column_mixing_numbers_and_text_is_refused_by_name() {
        let err = read_json_rows(br#"[{"x": 1}, {"x": "one"}]"#).unwrap_err();
        assert_eq!(err.reason, reasons::LOG_SCHEMA_MISMATCH.name);
        assert!(err.message.contains("rows[1].x"), "{}", err.message);
        let err = read_json_rows(br#"{"x": 1}"#).unwrap_err();
        assert!(err.message.contains("array"), "{}", err.message);
    }

    #[test]
    fn booleans_are_categories() {
        let flags: ArrayRef = Arc::new(arrow::array::BooleanArray::from(vec![Some(true), None]));
        let batch = RecordBatch::try_from_iter([("b", flags)]).unwrap();
        let frame = from_batches(&[batch]);
        assert_eq!(
            frame.column("b"),
            Some(&Values::Categorical(vec![Some("true".into()), None]))
        );
    }

    #[test]
    fn appending_fills_columns_missing_on_one_side() {
        let mut a = read_json_rows(br#"[{"x": 1}]"#).unwrap();
        let b = read_json_rows(br#"[{"y": "q"}, {"y": "r"}]"#).unwrap();
        a.append(b).unwrap();
        assert_eq!(a.rows, 3);
        let Some(Values::Numeric(x)) = a.column("x") else {
            panic!()
        };
        assert_eq!(x.len(), 3);
        assert_eq!(
            a.column("y"),
            Some(&Values::Categorical(vec![
                None,
                Some("q".into()),
                Some("r".into())
            ]))
        );
    }
}
