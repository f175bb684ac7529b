//! [`view_rows`]: a feature view's source rows with event times in `[start, end)`, as the
//! source holds them (no point-in-time logic, no deduplication): the join keys, the event
//! timestamp and the chosen features, for a monitor's reference sample or an export.
//!
//! The files, their footers and column checks, and the row groups worth reading are the ones
//! historical retrieval uses (`source_files`, `FileLayout::check`, `row_groups_in_time`), so a
//! source that serves training sets reads alike here. Rows come in file order (files in path
//! order), rows with a null event time are left out.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use super::error::OfflineError;
use super::historical_features::{check_feature_types, row_groups_in_time};
use super::keys::KeyKind;
use super::object_reader::ObjectReader;
use super::source::{FeatureViewSource, FileLayout, source_files};
use super::timestamps::epoch_micros;

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

/// The rows of `view`'s source with `start_us <= event time < end_us` (microseconds since the
/// epoch): columns `view.join_keys`, `view.timestamp_field`, then `view.features`, with the
/// types of the first file (a later file's integer or string keys of another width are cast
/// to them). `max_bytes` bounds the rows held in memory: past it the read stops with
/// [`OfflineError::TooManyRows`].
pub async fn view_rows(
    store: Arc<dyn ObjectStore>,
    view: &FeatureViewSource,
    start_us: i64,
    end_us: i64,
    max_bytes: usize,
) -> Result<RecordBatch, OfflineError> {
    // The created timestamp only breaks ties in joins; it is not part of the rows.
    let view = FeatureViewSource {
        created_timestamp_field: None,
        ..view.clone()
    };
    let columns: Vec<&String> = view
        .join_keys
        .iter()
        .chain(std::iter::once(&view.timestamp_field))
        .chain(&view.features)
        .collect();
    let mut schema: Option<SchemaRef> = None;
    let mut feature_types: Option<Vec<DataType>> = None;
    let mut batches = Vec::new();
    let mut held = 0usize;
    for meta in source_files(store.as_ref(), &view).await? {
        let mut reader = ObjectReader::new(Arc::clone(&store), &meta);
        let read_error = |source| OfflineError::ReadSource {
            view: view.name.clone(),
            file: meta.location.to_string(),
            source,
        };
        let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::default())
            .await
            .map_err(read_error)?;
        // Each file's keys are checked for a usable kind against its own types here, and
        // against the first file's below.
        let own_key_types = view
            .join_keys
            .iter()
            .map(|key| {
                metadata
                    .schema()
                    .field_with_name(key)
                    .map_or(DataType::Null, |f| f.data_type().clone())
            })
            .collect::<Vec<_>>();
        let layout = FileLayout::check(&view, &own_key_types, metadata.schema(), &meta.location)?;
        match &feature_types {
            Some(expected) => check_feature_types(&view, &meta.location, expected, &layout.feature_types)?,
            None => feature_types = Some(layout.feature_types.clone()),
        }
        let file_schema = output_schema(metadata.schema(), &columns);
        let target = match &schema {
            Some(first) => {
                check_key_kinds(&view, &meta.location, first, &file_schema)?;
                first.clone()
            }
            None => schema.insert(file_schema).clone(),
        };
        let projection = ProjectionMask::roots(metadata.parquet_schema(), layout.projection);
        let row_groups = row_groups_in_time(
            &metadata,
            &view.timestamp_field,
            Some((start_us, end_us.saturating_sub(1))),
        );
        if row_groups.is_empty() {
            continue;
        }
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata)
            .with_projection(projection)
            .with_row_groups(row_groups)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(read_error)?;
        while let Some(batch) = stream.try_next().await.map_err(read_error)? {
            let rows = rows_in(&batch, &view.timestamp_field, start_us, end_us)?;
            if rows.num_rows() == 0 {
                continue;
            }
            let rows = conform(&rows, &target)?;
            held = held.saturating_add(rows.get_array_memory_size());
            if held > max_bytes {
                return Err(OfflineError::TooManyRows {
                    view: view.name.clone(),
                    max_bytes,
                });
            }
            batches.push(rows);
        }
    }
    let schema = schema.expect("source_files returns at least one file");
    Ok(concat_batches(&schema, &batches)?)
}

/// The output columns of one file, in output order; a timestamp keeps its unit and zone.
fn output_schema(file: &Schema, columns: &[&String]) -> SchemaRef {
    // FileLayout::check has made sure that every column is there.
    let fields: Vec<Field> = columns
        .iter()
        .filter_map(|name| file.field_with_name(name).ok())
        .map(|field| field.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A later file's join keys must be of the same kind (integer or string) as the first's.
fn check_key_kinds(
    view: &FeatureViewSource,
    file: &object_store::path::Path,
    first: &Schema,
    this: &Schema,
) -> Result<(), OfflineError> {
    for key in &view.join_keys {
        let (Ok(expected), Ok(found)) = (first.field_with_name(key), this.field_with_name(key)) else {
            continue;
        };
        if KeyKind::of(expected.data_type()) != KeyKind::of(found.data_type()) {
            return Err(OfflineError::SourceKeyTypeMismatch {
                view: view.name.clone(),
                file: file.to_string(),
                key: key.clone(),
                expected: expected.data_type().clone(),
                found: found.data_type().clone(),
            });
        }
    }
    Ok(())
}

/// The rows of a projected batch whose event time lies in `[start_us, end_us)`.
fn rows_in(
    batch: &RecordBatch,
    timestamp_field: &str,
    start_us: i64,
    end_us: i64,
) -> Result<RecordBatch, OfflineError> {
    let times = batch
        .column_by_name(timestamp_field)
        .and_then(|column| epoch_micros(column.as_ref()))
        .expect("FileLayout::check has made sure of a timestamp column");
    let keep: BooleanArray = (0..times.len())
        .map(|row| Some(times.is_valid(row) && (start_us..end_us).contains(&times.value(row))))
        .collect();
    Ok(filter_record_batch(batch, &keep)?)
}

/// `batch`'s columns in `target`'s order and types.
fn conform(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, OfflineError> {
    let columns = target
        .fields()
        .iter()
        .map(|field| {
            let column = batch
                .column_by_name(field.name())
                .expect("the projection holds every output column");
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(target), columns)?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::TimeUnit;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    fn view(features: &[&str]) -> FeatureViewSource {
        FeatureViewSource {
            name: "stats".to_owned(),
            location: Path::from("data/stats"),
            join_keys: vec!["driver_id".to_owned()],
            timestamp_field: "event_timestamp".to_owned(),
            created_timestamp_field: Some("created".to_owned()),
            ttl: Duration::ZERO,
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            aggregations: Vec::new(),
        }
    }

    /// A file of (driver, event time, created, rate, city) rows with `key` as the driver column.
    fn file(key: ArrayRef, times: Vec<Option<i64>>, rates: Vec<f64>) -> Vec<u8> {
        let n = times.len();
        let micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("driver_id", key.data_type().clone(), false),
                Field::new("event_timestamp", micros.clone(), true),
                Field::new("created", micros, true),
                Field::new("rate", DataType::Float64, true),
                Field::new("city", DataType::Utf8, true),
            ])),
            vec![
                key,
                Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
                Arc::new(TimestampMicrosecondArray::from(vec![Some(0); n]).with_timezone("UTC")),
                Arc::new(Float64Array::from(rates)),
                Arc::new(StringArray::from(vec!["x"; n])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    }

    async fn store_with(files: Vec<(&str, Vec<u8>)>) -> Arc<dyn ObjectStore> {
        let store = Arc::new(InMemory::new());
        for (path, bytes) in files {
            store
                .put(&Path::from(path), PutPayload::from(bytes))
                .await
                .unwrap();
        }
        store
    }

    #[tokio::test]
    async fn rows_in_the_half_open_range_come_in_file_order_with_keys_time_and_features() {
        let store = store_with(vec![
            (
                "data/stats/b.parquet",
                file(
                    Arc::new(Int64Array::from(vec![3, 4])),
                    vec![Some(20), Some(30)],
                    vec![3.0, 4.0],
                ),
            ),
            (
                "data/stats/a.parquet",
                file(
                    Arc::new(Int32Array::from(vec![1, 2, 1, 2])),
                    vec![Some(10), None, Some(19), Some(5)],
                    vec![1.0, 2.0, 1.5, 0.5],
                ),
            ),
        ])
        .await;
        let rows = view_rows(store, &view(&["rate"]), 10, 30, usize::MAX)
            .await
            .unwrap();
        let names: Vec<String> = rows.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            ["driver_id", "event_timestamp", "rate"],
            "no created, no city"
        );
        // a.parquet first: 10 and 19 are in, the null time and 5 are out; from b.parquet 20 is
        // in and 30 (the end) is out. The first file's int32 keys set the type.
        assert_eq!(rows.column(0).data_type(), &DataType::Int32);
        let keys = rows.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(keys.values().to_vec(), [1, 1, 3]);
        let rates = rows.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(rates.values().to_vec(), [1.0, 1.5, 3.0]);
    }

    #[tokio::test]
    async fn a_file_with_keys_of_another_kind_is_refused_by_name() {
        let store = store_with(vec![
            (
                "data/stats/a.parquet",
                file(Arc::new(Int64Array::from(vec![1])), vec![Some(1)], vec![1.0]),
            ),
            (
                "data/stats/b.parquet",
                file(Arc::new(StringArray::from(vec!["1"])), vec![Some(1)], vec![1.0]),
            ),
        ])
        .await;
        let err = view_rows(store, &view(&["rate"]), 0, 10, usize::MAX)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OfflineError::SourceKeyTypeMismatch { key, file, .. }
                if key == "driver_id" && file == "data/stats/b.parquet"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_read_past_the_memory_bound_stops() {
        let store = store_with(vec![(
            "data/stats/a.parquet",
            file(
                Arc::new(Int64Array::from_iter_values(0..10_000)),
                (0..10_000).map(Some).collect(),
                vec![1.0; 10_000],
            ),
        )])
        .await;
        let err = view_rows(store, &view(&["rate", "city"]), 0, 10_000, 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, OfflineError::TooManyRows { .. }), "{err}");
    }
}
