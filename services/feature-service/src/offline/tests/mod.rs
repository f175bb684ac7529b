//! Tests of historical retrieval: hand-made edge cases, a property test against a naive scan,
//! and an ignored timing run.

mod aggregation_oracle;
mod edge_cases;
mod errors;
mod oracle;
mod timing;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::{FeatureViewSource, write_parquet};

/// Microseconds since the epoch of an RFC 3339 time.
fn at(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|err| panic!("bad test time {time}: {err}"))
        .timestamp_micros()
}

fn micros_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn timestamps(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(arrow::array::TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

/// An entity frame of `driver_id` and `event_timestamp`.
fn drivers(rows: &[(i64, &str)]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        ("event_timestamp", timestamps(rows.iter().map(|r| Some(at(r.1))))),
    ])
    .unwrap()
}

/// One source row of the `driver_stats` fixture.
struct StatRow<'a> {
    driver: i64,
    time: &'a str,
    created: Option<&'a str>,
    conv_rate: Option<f64>,
}

fn stat(driver: i64, time: &str, conv_rate: Option<f64>) -> StatRow<'_> {
    StatRow {
        driver,
        time,
        created: None,
        conv_rate,
    }
}

/// A source with `driver_id`, `event_timestamp`, `created` and `conv_rate`.
fn driver_stats(rows: &[StatRow<'_>]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("driver_id", DataType::Int64, false),
        Field::new("event_timestamp", micros_type(), false),
        Field::new("created", micros_type(), true),
        Field::new("conv_rate", DataType::Float64, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.driver))),
            timestamps(rows.iter().map(|r| Some(at(r.time)))),
            timestamps(rows.iter().map(|r| r.created.map(at))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.conv_rate))),
        ],
    )
    .unwrap()
}

fn stats_view(location: &str) -> FeatureViewSource {
    FeatureViewSource {
        name: "driver_stats".into(),
        location: Path::from(location),
        join_keys: vec!["driver_id".into()],
        timestamp_field: "event_timestamp".into(),
        created_timestamp_field: Some("created".into()),
        ttl: std::time::Duration::ZERO,
        features: vec!["conv_rate".into()],
        aggregations: Vec::new(),
    }
}

async fn put_parquet(store: &dyn ObjectStore, location: &str, batch: &RecordBatch) {
    let bytes = write_parquet(batch).unwrap();
    store
        .put(&Path::from(location), PutPayload::from(bytes))
        .await
        .unwrap();
}

/// `batch` as Parquet in row groups of at most `rows_per_group` rows.
pub(super) fn parquet_in_row_groups(batch: &RecordBatch, rows_per_group: usize) -> Vec<u8> {
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).unwrap();
    writer.write(batch).unwrap();
    writer.into_inner().unwrap()
}

/// An in-memory store holding `batch` as `stats.parquet`.
async fn store_with(batch: &RecordBatch) -> Arc<dyn ObjectStore> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    put_parquet(store.as_ref(), "stats.parquet", batch).await;
    store
}

fn f64_column(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no output column {name}"));
    column.as_primitive::<Float64Type>().iter().collect()
}

fn string_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).unwrap();
    let strings: &StringArray = column.as_string();
    strings.iter().map(|v| v.map(str::to_owned)).collect()
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch.schema().fields().iter().map(|f| f.name().clone()).collect()
}

fn null_count(batch: &RecordBatch, name: &str) -> usize {
    batch.column_by_name(name).unwrap().null_count()
}
