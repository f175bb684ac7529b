use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use tokio::runtime::Handle;

use super::entity_frame::EVENT_TIMESTAMP;
use super::entity_index::EntityIndex;
use super::error::OfflineError;
use super::kept_values::KeptValues;
use super::keys::{KeyEncoder, KeyKind};
use super::object_reader::ObjectReader;
use super::point_in_time::ViewJoin;
use super::source::{FeatureViewSource, FileLayout, source_files};
use super::timestamps::{epoch_micros, lookback_micros};

/// Sizes that trade speed for memory; tests shrink them to exercise batch and chunk boundaries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tuning {
    /// Source rows decoded at a time.
    pub batch_rows: usize,
    /// Kept values are compacted once this many (or the entity row count, if larger) pile up.
    pub min_compaction_rows: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            batch_rows: 8192,
            min_compaction_rows: 65_536,
        }
    }
}

/// Joins each view's features, as of each entity row's `event_timestamp`, onto the entity
/// frame: the frame's columns in order, then each view's features (named `feature`, or
/// `view__feature` with `full_feature_names`), one output row per entity row in input order.
pub async fn historical_features(
    store: Arc<dyn ObjectStore>,
    entities: RecordBatch,
    views: &[FeatureViewSource],
    full_feature_names: bool,
) -> Result<RecordBatch, OfflineError> {
    retrieve(store, entities, views, full_feature_names, Tuning::default()).await
}

pub(super) async fn retrieve(
    store: Arc<dyn ObjectStore>,
    entities: RecordBatch,
    views: &[FeatureViewSource],
    full_feature_names: bool,
    tuning: Tuning,
) -> Result<RecordBatch, OfflineError> {
    let output_names = output_names(&entities, views, full_feature_names)?;
    for view in views {
        entity_key_types(&entities, view)?;
    }
    let times: Arc<[i64]> = entity_times(&entities)?.into();

    // Dropping this future (an error in another view, or the caller going away) tells the
    // blocking joins to stop at their next batch.
    let abandoned = AbandonOnDrop(Arc::new(AtomicBool::new(false)));
    let handle = Handle::current();
    let joins = views.iter().map(|view| {
        let (store, entities, times) = (Arc::clone(&store), entities.clone(), Arc::clone(&times));
        let (view, handle, abandoned) = (view.clone(), handle.clone(), Arc::clone(&abandoned.0));
        let join = tokio::task::spawn_blocking(move || {
            join_view(&handle, store, &view, &entities, &times, tuning, &abandoned)
        });
        async move { join.await? }
    });
    let view_columns = futures::future::try_join_all(joins).await?;

    let mut fields: Vec<Field> = entities
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = entities.columns().to_vec();
    let feature_names = output_names.into_iter().skip(fields.len());
    for (name, column) in feature_names.zip(view_columns.into_iter().flatten()) {
        fields.push(Field::new(name, column.data_type().clone(), true));
        columns.push(column);
    }
    let schema = Schema::new_with_metadata(fields, entities.schema().metadata().clone());
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Every output column name in order; two equal names are the caller's to resolve.
fn output_names(
    entities: &RecordBatch,
    views: &[FeatureViewSource],
    full_feature_names: bool,
) -> Result<Vec<String>, OfflineError> {
    let schema = entities.schema();
    let entity_names = schema.fields().iter().map(|field| field.name().clone());
    let feature_names = views.iter().flat_map(|view| {
        view.features
            .iter()
            .map(move |feature| view.output_name(feature, full_feature_names))
    });
    let names: Vec<String> = entity_names.chain(feature_names).collect();
    let mut seen = HashSet::new();
    for name in &names {
        if !seen.insert(name.as_str()) {
            return Err(OfflineError::DuplicateOutputColumn { column: name.clone() });
        }
    }
    Ok(names)
}

/// The entity frame's types of a view's join keys, each of which must be an integer or a string.
fn entity_key_types(entities: &RecordBatch, view: &FeatureViewSource) -> Result<Vec<DataType>, OfflineError> {
    view.join_keys
        .iter()
        .map(|key| {
            let column = entities
                .column_by_name(key)
                .ok_or_else(|| OfflineError::MissingJoinKey {
                    view: view.name.clone(),
                    key: key.clone(),
                })?;
            match KeyKind::of(column.data_type()) {
                Some(_) => Ok(column.data_type().clone()),
                None => Err(OfflineError::UnsupportedKeyType {
                    view: view.name.clone(),
                    key: key.clone(),
                    side: "entity frame",
                    found: column.data_type().clone(),
                }),
            }
        })
        .collect()
}

/// Each entity row's time in microseconds since the epoch; every row must have one.
fn entity_times(entities: &RecordBatch) -> Result<Vec<i64>, OfflineError> {
    if entities.num_rows() >= u32::MAX as usize {
        return Err(OfflineError::TooManyEntityRows {
            rows: entities.num_rows(),
            max: u32::MAX as usize - 1,
        });
    }
    let column = entities
        .column_by_name(EVENT_TIMESTAMP)
        .ok_or(OfflineError::MissingEventTimestamp)?;
    let micros = epoch_micros(column.as_ref()).ok_or_else(|| OfflineError::EventTimestampType {
        found: column.data_type().clone(),
    })?;
    if let Some(nulls) = micros.nulls()
        && let Some(row) = nulls.iter().position(|valid| !valid)
    {
        return Err(OfflineError::NullEventTimestamp { row });
    }
    Ok(micros.values().to_vec())
}

/// Joins one view's source onto the entity rows, one record batch at a time. Runs on a
/// blocking thread and drives the source stream through `handle`, so Parquet decoding and the
/// join itself stay off the async workers.
fn join_view(
    handle: &Handle,
    store: Arc<dyn ObjectStore>,
    view: &FeatureViewSource,
    entities: &RecordBatch,
    times: &[i64],
    tuning: Tuning,
    abandoned: &AtomicBool,
) -> Result<Vec<ArrayRef>, OfflineError> {
    let key_types = entity_key_types(entities, view)?;
    let kinds = key_types.iter().filter_map(KeyKind::of).collect();
    let encoder = KeyEncoder::new(kinds)?;
    let key_columns: Vec<&ArrayRef> = view
        .join_keys
        .iter()
        .filter_map(|key| entities.column_by_name(key))
        .collect();
    let index = EntityIndex::build(&encoder.encode(&key_columns)?, times);
    let time_window = candidate_window(times, lookback_micros(view.ttl));

    let read_error = |file: &object_store::path::Path| {
        let (view, file) = (view.name.clone(), file.to_string());
        move |source| OfflineError::ReadSource { view, file, source }
    };
    let files = handle.block_on(source_files(store.as_ref(), view))?;
    let mut join: Option<ViewJoin> = None;
    let mut unused_index = Some((index, encoder));
    for file in files {
        let reader = ObjectReader::new(Arc::clone(&store), &file);
        let builder = handle
            .block_on(ParquetRecordBatchStreamBuilder::new(reader))
            .map_err(read_error(&file.location))?;
        let layout = FileLayout::check(view, &key_types, builder.schema(), &file.location)?;
        let join = match &mut join {
            Some(join) => {
                check_feature_types(view, &file.location, join.feature_types(), &layout.feature_types)?;
                join
            }
            None => {
                let (index, encoder) = unused_index.take().expect("the first file builds the join");
                let kept = KeptValues::new(layout.feature_types, times.len(), tuning.min_compaction_rows);
                join.insert(ViewJoin::new(
                    index,
                    encoder,
                    lookback_micros(view.ttl),
                    times.len(),
                    kept,
                ))
            }
        };
        let mask = ProjectionMask::roots(builder.parquet_schema(), layout.projection);
        let row_groups = row_groups_in_time(&builder, &view.timestamp_field, time_window);
        let mut batches = builder
            .with_projection(mask)
            .with_row_groups(row_groups)
            .with_batch_size(tuning.batch_rows)
            .build()
            .map_err(read_error(&file.location))?;
        while let Some(batch) = handle
            .block_on(batches.try_next())
            .map_err(read_error(&file.location))?
        {
            if abandoned.load(Ordering::Relaxed) {
                // Nobody waits for this result any more.
                return Ok(Vec::new());
            }
            absorb_batch(join, view, &batch)?;
        }
    }
    match join {
        Some(join) => Ok(join.finish()?),
        None => unreachable!("source_files returns at least one file"),
    }
}

/// The event times a candidate can have: from the earliest entity time minus the ttl to the
/// latest entity time (`None` without entity rows).
fn candidate_window(times: &[i64], lookback: Option<i64>) -> Option<(i64, i64)> {
    let earliest = *times.iter().min()?;
    let latest = *times.iter().max()?;
    Some((earliest.saturating_sub(lookback.unwrap_or(i64::MAX)), latest))
}

/// The row groups whose event times, by their statistics, may fall in `window`: sources often
/// span far more time than the entity frame asks about. Without usable statistics a row group
/// is read.
pub(super) fn row_groups_in_time<T>(
    builder: &ParquetRecordBatchStreamBuilder<T>,
    timestamp_field: &str,
    window: Option<(i64, i64)>,
) -> Vec<usize> {
    let Some((earliest, latest)) = window else {
        return Vec::new();
    };
    let row_groups = builder.metadata().row_groups();
    let all = (0..row_groups.len()).collect();
    let Ok(statistics) =
        StatisticsConverter::try_new(timestamp_field, builder.schema(), builder.parquet_schema())
    else {
        return all;
    };
    let (Ok(mins), Ok(maxes)) = (
        statistics.row_group_mins(row_groups.iter()),
        statistics.row_group_maxes(row_groups.iter()),
    ) else {
        return all;
    };
    let (Some(mins), Some(maxes)) = (epoch_micros(mins.as_ref()), epoch_micros(maxes.as_ref())) else {
        return all;
    };
    (0..row_groups.len())
        .filter(|&group| {
            let starts_too_late = mins.is_valid(group) && mins.value(group) > latest;
            let ends_too_early = maxes.is_valid(group) && maxes.value(group) < earliest;
            !starts_too_late && !ends_too_early
        })
        .collect()
}

fn absorb_batch(
    join: &mut ViewJoin,
    view: &FeatureViewSource,
    batch: &RecordBatch,
) -> Result<(), OfflineError> {
    // FileLayout::check has made sure the projected batch holds these columns.
    let column = |name: &str| batch.column_by_name(name).expect("a checked column");
    let keys: Vec<&ArrayRef> = view.join_keys.iter().map(|key| column(key)).collect();
    let times = epoch_micros(column(&view.timestamp_field).as_ref()).expect("a checked timestamp");
    let created = view
        .created_timestamp_field
        .as_ref()
        .map(|field| epoch_micros(column(field).as_ref()).expect("a checked timestamp"));
    let features: Vec<&ArrayRef> = view.features.iter().map(|feature| column(feature)).collect();
    Ok(join.absorb(&keys, &times, created.as_ref(), &features)?)
}

fn check_feature_types(
    view: &FeatureViewSource,
    file: &object_store::path::Path,
    expected: &[DataType],
    found: &[DataType],
) -> Result<(), OfflineError> {
    for ((column, expected), found) in view.features.iter().zip(expected).zip(found) {
        if expected != found {
            return Err(OfflineError::FeatureTypeMismatch {
                view: view.name.clone(),
                file: file.to_string(),
                column: column.clone(),
                expected: expected.clone(),
                found: found.clone(),
            });
        }
    }
    Ok(())
}
