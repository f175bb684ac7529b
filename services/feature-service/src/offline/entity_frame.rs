use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMicrosecondType};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::error::OfflineError;

/// The column of an entity frame holding the time at which each row's features are wanted.
pub const EVENT_TIMESTAMP: &str = "event_timestamp";

/// How an uploaded entity frame is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityFormat {
    Parquet,
    /// With a header row; column types are inferred, and `event_timestamp` is parsed as an
    /// RFC 3339 time (without an offset it is UTC).
    Csv,
}

/// Reads a whole entity frame into one batch.
pub fn read_entity_frame(bytes: &[u8], format: EntityFormat) -> Result<RecordBatch, OfflineError> {
    match format {
        EntityFormat::Parquet => read_parquet(bytes).map_err(|reason| OfflineError::UnreadableEntityFrame {
            format: "Parquet",
            reason,
        }),
        EntityFormat::Csv => read_csv(bytes).map_err(|reason| OfflineError::UnreadableEntityFrame {
            format: "CSV",
            reason,
        }),
    }
}

fn read_parquet(bytes: &[u8]) -> Result<RecordBatch, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))
        .map_err(|err| err.to_string())?;
    let schema = Arc::clone(builder.schema());
    let reader = builder.build().map_err(|err| err.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    concat_batches(&schema, &batches).map_err(|err| err.to_string())
}

fn read_csv(bytes: &[u8]) -> Result<RecordBatch, String> {
    let format = Format::default().with_header(true);
    let (inferred, _) = format
        .infer_schema(Cursor::new(bytes), None)
        .map_err(|err| err.to_string())?;
    // Arrow without chrono-tz parses only offset zones, so the times are read at offset zero and
    // then labelled UTC: the same instants.
    let read_as = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let schema = Arc::new(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                EVENT_TIMESTAMP => Field::new(EVENT_TIMESTAMP, read_as.clone(), true),
                _ => field.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    let reader = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
        .with_format(format)
        .build(Cursor::new(bytes))
        .map_err(|err| err.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    let batch = concat_batches(&schema, &batches).map_err(|err| err.to_string())?;
    let Some(index) = schema.index_of(EVENT_TIMESTAMP).ok() else {
        return Ok(batch);
    };
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    fields[index] = Field::new(EVENT_TIMESTAMP, utc, true);
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(
        columns[index]
            .as_primitive::<TimestampMicrosecondType>()
            .clone()
            .with_timezone("UTC"),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|err| err.to_string())
}

/// Encodes a batch as one Parquet file (zstd-compressed).
pub fn write_parquet(batch: &RecordBatch) -> Result<Vec<u8>, OfflineError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))?;
    writer.write(batch)?;
    Ok(writer.into_inner()?)
}
