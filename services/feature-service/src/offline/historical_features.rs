//! [`historical_features`]: the point-in-time join of each view of a request, its source's row
//! groups cut into consecutive shares joined on blocking workers, and the shares merged.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::ObjectMeta;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::errors::ParquetError;
use tokio::runtime::Handle;

use super::entity_frame::EVENT_TIMESTAMP;
use super::entity_index::EntityIndex;
use super::error::OfflineError;
use super::kept_values::KeptValues;
use super::keys::{KeyEncoder, KeyKind};
use super::object_reader::ObjectReader;
use super::point_in_time::{ViewJoin, merge};
use super::source::{FeatureViewSource, FileLayout, source_files};
use super::timestamps::{epoch_micros, lookback_micros};
use super::window_join::aggregate_view;

/// Sizes that trade speed for memory; tests shrink them to exercise batch and chunk boundaries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Source rows decoded at a time.
    pub batch_rows: usize,
    /// Kept values are compacted once this many (or the entity row count, if larger) pile up.
    pub min_compaction_rows: usize,
    /// Threads that join one view's source, each over its own share of the row groups; the
    /// views of one request split them between themselves.
    pub workers: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            batch_rows: 8192,
            min_compaction_rows: 65_536,
            workers: std::thread::available_parallelism().map_or(1, |cores| cores.get()),
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
    let tuning = Tuning {
        workers: (tuning.workers / views.len().max(1)).max(1),
        ..tuning
    };
    let joins = views.iter().map(|view| {
        let (store, entities, times) = (Arc::clone(&store), entities.clone(), Arc::clone(&times));
        let (view, handle, abandoned) = (view.clone(), handle.clone(), Arc::clone(&abandoned.0));
        let join = tokio::task::spawn_blocking(move || {
            if view.aggregations.is_empty() {
                join_view(&handle, store, &view, &entities, &times, tuning, &abandoned)
            } else {
                aggregate_view(&handle, store, &view, &entities, &times, tuning, &abandoned)
            }
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
        view.outputs()
            .into_iter()
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
pub(super) fn entity_key_types(
    entities: &RecordBatch,
    view: &FeatureViewSource,
) -> Result<Vec<DataType>, OfflineError> {
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

/// One Parquet file of a view's source, its footer read once: the columns to read and the row
/// groups whose times may matter.
pub(super) struct SourceFile {
    meta: ObjectMeta,
    metadata: ArrowReaderMetadata,
    projection: ProjectionMask,
    row_groups: Vec<usize>,
}

/// Row groups of one file that one worker reads, in file order.
pub(super) struct Share {
    file: usize,
    row_groups: Vec<usize>,
}

/// Joins one view's source onto the entity rows, one record batch at a time. Runs on a
/// blocking thread and drives the source streams through `handle`, so Parquet decoding and
/// the join itself stay off the async workers. The row groups are cut into up to
/// `tuning.workers` consecutive runs of about equal row counts, each joined on its own thread
/// against the shared entity index; the partial joins then [`merge`] into one.
fn join_view(
    handle: &Handle,
    store: Arc<dyn ObjectStore>,
    view: &FeatureViewSource,
    entities: &RecordBatch,
    times: &[i64],
    tuning: Tuning,
    abandoned: &AtomicBool,
) -> Result<Vec<ArrayRef>, OfflineError> {
    let (key_types, encoder, index) = entity_index(entities, view, times)?;
    let lookback = lookback_micros(view.ttl);
    let window = candidate_window(times, lookback);
    let (files, feature_types) = open_source(handle, &store, view, &key_types, window)?;
    let shares = split(&files, tuning.workers);

    let joined = read_shares(
        handle,
        &store,
        view,
        &files,
        &shares,
        tuning,
        abandoned,
        || {
            let kept = KeptValues::new(feature_types.clone(), times.len(), tuning.min_compaction_rows);
            ViewJoin::new(&index, &encoder, lookback, times.len(), kept)
        },
        |join, batch| absorb_batch(join, view, batch),
        |join| Ok(join.finish()?),
    )?;
    match joined {
        Some(parts) => Ok(merge(parts)?),
        None => Ok(Vec::new()),
    }
}

/// Reads each share of a view's row groups on its own thread (the first on this one), feeding
/// every record batch to that share's accumulator, made by `start` and closed by `finish` on
/// the same thread. Returns the results in share order, or `None` when the request was
/// abandoned; the first error stops the others at their next batch.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_shares<A, B: Send>(
    handle: &Handle,
    store: &Arc<dyn ObjectStore>,
    view: &FeatureViewSource,
    files: &[SourceFile],
    shares: &[Vec<Share>],
    tuning: Tuning,
    abandoned: &AtomicBool,
    start: impl Fn() -> A + Sync,
    absorb: impl Fn(&mut A, &RecordBatch) -> Result<(), OfflineError> + Sync,
    finish: impl Fn(A) -> Result<B, OfflineError> + Sync,
) -> Result<Option<Vec<B>>, OfflineError> {
    let failed = AtomicBool::new(false);
    let read_share = |share: &[Share]| -> Result<Option<B>, OfflineError> {
        let mut accumulator = start();
        for part in share {
            let file = &files[part.file];
            let reader = ObjectReader::new(Arc::clone(store), &file.meta);
            let mut batches =
                ParquetRecordBatchStreamBuilder::new_with_metadata(reader, file.metadata.clone())
                    .with_projection(file.projection.clone())
                    .with_row_groups(part.row_groups.clone())
                    .with_batch_size(tuning.batch_rows)
                    .build()
                    .map_err(read_error(view, &file.meta))?;
            while let Some(batch) = handle
                .block_on(batches.try_next())
                .map_err(read_error(view, &file.meta))?
            {
                if abandoned.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed) {
                    // Nobody waits for this result any more.
                    return Ok(None);
                }
                absorb(&mut accumulator, &batch)?;
            }
        }
        Ok(Some(finish(accumulator)?))
    };
    let read_or_flag = |share: &[Share]| {
        let read = read_share(share);
        if read.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        read
    };
    let read: Vec<Option<B>> = std::thread::scope(|scope| {
        let (mine, theirs) = shares.split_first().expect("split makes at least one share");
        let helpers: Vec<_> = theirs
            .iter()
            .map(|share| scope.spawn(|| read_or_flag(share)))
            .collect();
        let mut read = vec![read_or_flag(mine)];
        for helper in helpers {
            read.push(
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        read.into_iter().collect::<Result<_, _>>()
    })?;
    Ok(read.into_iter().collect())
}

/// The entity frame's types of the view's join keys, the encoder of those keys, and the entity
/// rows grouped by key and sorted by time.
pub(super) fn entity_index(
    entities: &RecordBatch,
    view: &FeatureViewSource,
    times: &[i64],
) -> Result<(Vec<DataType>, KeyEncoder, EntityIndex), OfflineError> {
    let key_types = entity_key_types(entities, view)?;
    let kinds = key_types.iter().filter_map(KeyKind::of).collect();
    let encoder = KeyEncoder::new(kinds)?;
    let key_columns: Vec<&ArrayRef> = view
        .join_keys
        .iter()
        .filter_map(|key| entities.column_by_name(key))
        .collect();
    let index = EntityIndex::build(&encoder.encode(&key_columns)?, times);
    Ok((key_types, encoder, index))
}

fn read_error(view: &FeatureViewSource, file: &ObjectMeta) -> impl FnOnce(ParquetError) -> OfflineError {
    let (view, file) = (view.name.clone(), file.location.to_string());
    move |source| OfflineError::ReadSource { view, file, source }
}

/// Reads the footer of every file of the view's source, checks that each has the view's
/// columns with the types of the first, and picks the row groups that may hold candidates.
/// Returns the files and the feature types.
pub(super) fn open_source(
    handle: &Handle,
    store: &Arc<dyn ObjectStore>,
    view: &FeatureViewSource,
    key_types: &[DataType],
    window: Option<(i64, i64)>,
) -> Result<(Vec<SourceFile>, Vec<DataType>), OfflineError> {
    let mut files = Vec::new();
    let mut feature_types: Option<Vec<DataType>> = None;
    for meta in handle.block_on(source_files(store.as_ref(), view))? {
        let mut reader = ObjectReader::new(Arc::clone(store), &meta);
        let metadata = handle
            .block_on(ArrowReaderMetadata::load_async(
                &mut reader,
                ArrowReaderOptions::default(),
            ))
            .map_err(read_error(view, &meta))?;
        let layout = FileLayout::check(view, key_types, metadata.schema(), &meta.location)?;
        match &feature_types {
            Some(expected) => check_feature_types(view, &meta.location, expected, &layout.feature_types)?,
            None => feature_types = Some(layout.feature_types),
        }
        let projection = ProjectionMask::roots(metadata.parquet_schema(), layout.projection);
        let row_groups = row_groups_in_time(&metadata, &view.timestamp_field, window);
        files.push(SourceFile {
            meta,
            metadata,
            projection,
            row_groups,
        });
    }
    let feature_types = feature_types.expect("source_files returns at least one file");
    Ok((files, feature_types))
}

/// Cuts the row groups to read, in file order, into at most `workers` consecutive shares of
/// about equal row counts (a row group is never cut). There is always at least one share,
/// empty when there is nothing to read.
pub(super) fn split(files: &[SourceFile], workers: usize) -> Vec<Vec<Share>> {
    let groups: Vec<(usize, usize, u64)> = files
        .iter()
        .enumerate()
        .flat_map(|(file, source)| {
            let row_groups = source.metadata.metadata().row_groups();
            source
                .row_groups
                .iter()
                .map(move |&group| (file, group, row_groups[group].num_rows().max(0) as u64))
        })
        .collect();
    let workers = workers.clamp(1, groups.len().max(1)) as u64;
    let total: u64 = groups.iter().map(|&(_, _, rows)| rows).sum::<u64>().max(1);
    let mut shares: Vec<Vec<Share>> = vec![Vec::new()];
    let mut before = 0u64;
    for (file, group, rows) in groups {
        // The share a row group falls in is where its middle row lies.
        let worker = ((before + rows / 2) * workers / total).min(workers - 1) as usize;
        before += rows;
        while shares.len() <= worker {
            shares.push(Vec::new());
        }
        let share = shares.last_mut().expect("one share at least");
        match share.last_mut() {
            Some(last) if last.file == file => last.row_groups.push(group),
            _ => share.push(Share {
                file,
                row_groups: vec![group],
            }),
        }
    }
    shares
}

/// The event times a candidate can have: from the earliest entity time minus the ttl to the
/// latest entity time (`None` without entity rows).
pub(super) fn candidate_window(times: &[i64], lookback: Option<i64>) -> Option<(i64, i64)> {
    let earliest = *times.iter().min()?;
    let latest = *times.iter().max()?;
    Some((earliest.saturating_sub(lookback.unwrap_or(i64::MAX)), latest))
}

/// The row groups whose event times, by their statistics, may fall in `window`: sources often
/// span far more time than the entity frame asks about. Without usable statistics a row group
/// is read.
pub(super) fn row_groups_in_time(
    metadata: &ArrowReaderMetadata,
    timestamp_field: &str,
    window: Option<(i64, i64)>,
) -> Vec<usize> {
    let Some((earliest, latest)) = window else {
        return Vec::new();
    };
    let row_groups = metadata.metadata().row_groups();
    let all = (0..row_groups.len()).collect();
    let Ok(statistics) =
        StatisticsConverter::try_new(timestamp_field, metadata.schema(), metadata.parquet_schema())
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
    join: &mut ViewJoin<'_>,
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

pub(super) fn check_feature_types(
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

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::super::tests::parquet_in_row_groups;
    use super::*;

    /// A source file of `rows` rows in row groups of `per_group`, every group to be read.
    fn source_file(rows: i64, per_group: usize) -> SourceFile {
        let batch = RecordBatch::try_from_iter([(
            "driver_id",
            Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
        )])
        .unwrap();
        let bytes = bytes::Bytes::from(parquet_in_row_groups(&batch, per_group));
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::default()).unwrap();
        let row_groups = (0..metadata.metadata().num_row_groups()).collect();
        SourceFile {
            meta: ObjectMeta {
                location: "stats.parquet".into(),
                last_modified: chrono::Utc::now(),
                size: bytes.len() as u64,
                e_tag: None,
                version: None,
            },
            projection: ProjectionMask::all(),
            metadata,
            row_groups,
        }
    }

    fn shares(files: &[SourceFile], workers: usize) -> Vec<Vec<(usize, Vec<usize>)>> {
        split(files, workers)
            .into_iter()
            .map(|share| {
                share
                    .into_iter()
                    .map(|part| (part.file, part.row_groups))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn offline_row_groups_split_into_consecutive_shares_of_about_equal_rows() {
        // Five row groups of two rows: three in the first file, two in the second.
        let files = [source_file(6, 2), source_file(4, 2)];
        assert_eq!(shares(&files, 1), [vec![(0, vec![0, 1, 2]), (1, vec![0, 1])]]);
        assert_eq!(
            shares(&files, 2),
            [vec![(0, vec![0, 1])], vec![(0, vec![2]), (1, vec![0, 1])]]
        );
        let one_each: Vec<Vec<(usize, Vec<usize>)>> = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
            .map(|(file, group)| vec![(file, vec![group])])
            .into();
        assert_eq!(shares(&files, 9), one_each, "never more shares than row groups");

        // Unequal groups: the share a group joins is where its middle row falls.
        let uneven = [source_file(8, 8), source_file(2, 1)];
        assert_eq!(shares(&uneven, 2), [vec![(0, vec![0])], vec![(1, vec![0, 1])]]);

        // Nothing to read still makes one (empty) share, which yields the all-null columns.
        let mut skipped = source_file(4, 2);
        skipped.row_groups.clear();
        assert_eq!(shares(&[skipped], 4), [Vec::<(usize, Vec<usize>)>::new()]);
    }
}
