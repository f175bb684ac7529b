//! Materialization: per entity, the latest source row of a window, written to the online store.
//!
//! Memory is bounded by the number of entities, not by the size of the source: the files are
//! streamed batch by batch (8,192 rows) and only the latest row seen so far of each entity is
//! kept. Intervals written are recorded in `features_materializations`, so a repeated call
//! skips them, with the run that wrote them (its interval and counts, for the view's state);
//! progress goes to a callback (a few reports per second at most).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, Rows, SortField};
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::path::Path;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

use super::FeatureValues;
use super::value_conversion::arrow_value;
use crate::aggregation;
use crate::definitions::model::{FEATURE_VIEW, Spec};
use crate::definitions::spec::{FeatureViewSpec, SourceSpec};
use crate::offline::keys::{Key, KeyNumbers};
use crate::offline::{self, FeatureViewSource};
use crate::online::{EntityKey, FeatureRow, Value};
use crate::store::materializations::RunRecord;

/// Entities per online-store write call.
const WRITE_CHUNK: usize = 10_000;

/// The latest row per entity seen so far, in the order the entities were first seen, found by
/// join key: a single integer key as itself, any other keys by their row encoding. The key map
/// holds only an index into `rows`, so growing it moves a few bytes per entity.
#[derive(Default)]
struct LatestRows {
    keys: KeyNumbers,
    rows: Vec<Latest>,
}

impl LatestRows {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn get_mut(&mut self, key: Key<'_>) -> Option<&mut Latest> {
        let index = self.keys.get(key)?;
        Some(&mut self.rows[index as usize])
    }

    fn insert(&mut self, key: Key<'_>, row: Latest) -> Result<()> {
        if self.rows.len() >= u32::MAX as usize {
            return Err(Error::invalid(
                "a materialization holds at most 4,294,967,295 entities per view",
            ));
        }
        self.keys.number(key);
        self.rows.push(row);
        Ok(())
    }
}

/// One batch's join keys, as [`LatestRows`] looks them up.
pub(super) enum BatchKeys<'a> {
    /// One integer key column (already widened to `i64`).
    Integers(&'a Int64Array),
    /// Any other key columns, row-encoded.
    Rows(Rows),
}

impl<'a> BatchKeys<'a> {
    /// Encodes the (comparable) key columns of a batch.
    pub(super) fn new(encodable: &'a [ArrayRef]) -> Result<BatchKeys<'a>> {
        // A single integer key is looked up as itself, any other keys by their row encoding.
        let integers = match encodable {
            [single] => single.as_primitive_opt::<Int64Type>(),
            _ => None,
        };
        Ok(match integers {
            Some(integers) => BatchKeys::Integers(integers),
            None => {
                let converter = RowConverter::new(
                    encodable
                        .iter()
                        .map(|c| SortField::new(c.data_type().clone()))
                        .collect(),
                )
                .map_err(|e| Error::invalid(format!("join keys: {e}")))?;
                let rows = converter
                    .convert_columns(encodable)
                    .map_err(|e| Error::invalid(format!("join keys: {e}")))?;
                BatchKeys::Rows(rows)
            }
        })
    }

    pub(super) fn key(&self, row: usize) -> Key<'_> {
        match self {
            BatchKeys::Integers(integers) => Key::Integer(integers.value(row)),
            BatchKeys::Rows(rows) => Key::Bytes(rows.row(row).data()),
        }
    }
}

/// Write calls in flight at once, so encoding the next chunk overlaps the store's work.
const WRITES_IN_FLIGHT: usize = 2;
/// Rows per decoded source batch.
const BATCH_ROWS: usize = 8_192;
/// Least time between two progress reports of a view (its first and last are always sent).
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Receives progress reports while a materialization runs.
pub type ProgressSink<'a> = &'a (dyn Fn(pb::MaterializeProgress) + Send + Sync);

/// Throttled progress of one view.
pub(super) struct Reporter<'a> {
    sink: ProgressSink<'a>,
    last: Instant,
    pub progress: pb::MaterializeProgress,
}

impl<'a> Reporter<'a> {
    fn new(sink: ProgressSink<'a>, view: &str) -> Self {
        Reporter {
            sink,
            last: Instant::now(),
            progress: pb::MaterializeProgress {
                feature_view: view.to_owned(),
                ..Default::default()
            },
        }
    }

    /// Reports unless the last report is too recent.
    pub(super) fn tick(&mut self) {
        if self.last.elapsed() >= REPORT_EVERY {
            self.send();
        }
    }

    pub(super) fn send(&mut self) {
        (self.sink)(self.progress.clone());
        self.last = Instant::now();
    }
}

/// The latest row seen so far of one entity.
struct Latest {
    /// Join key values, in the order of the view's join keys.
    key: Vec<Value>,
    event_ts_us: i64,
    created_ts_us: Option<i64>,
    /// Feature values, in the order of the view's schema.
    values: Vec<Value>,
}

/// What a view reads from its source, resolved once per materialization.
pub(super) struct Scan<'a> {
    pub view: &'a FeatureViewSpec,
    pub source: &'a SourceSpec,
    pub path: &'a str,
    pub join_keys: &'a [String],
    pub features: Vec<String>,
}

impl FeatureValues {
    /// Materializes the requested views (every online view when none is named), one after
    /// the other; `progress` hears how far each got.
    pub async fn materialize(
        &self,
        request: pb::MaterializeRequest,
        progress: ProgressSink<'_>,
    ) -> Result<pb::MaterializeResponse> {
        self.materialize_at(request, progress, chrono::Utc::now().timestamp_micros())
            .await
    }

    /// [`materialize`](Self::materialize) with the present at `now_us` (which source events of
    /// an aggregated view are still to come, and which tiles no window needs any more).
    pub(super) async fn materialize_at(
        &self,
        request: pb::MaterializeRequest,
        progress: ProgressSink<'_>,
        now_us: i64,
    ) -> Result<pb::MaterializeResponse> {
        let end_us = micros(request.end.as_ref())
            .ok_or_else(|| Error::invalid("end: give the end of the interval"))?;
        let names: Vec<String> = if request.feature_views.is_empty() {
            self.definitions
                .list(&request.project, Some(FEATURE_VIEW))
                .await?
                .into_iter()
                .filter_map(|s| match s.spec {
                    Spec::View(v) if v.online => Some(v.name),
                    Spec::View(_) | Spec::Entity(_) | Spec::Source(_) | Spec::Service(_) => None,
                })
                .collect()
        } else {
            request.feature_views.clone()
        };
        let mut views = Vec::new();
        for name in names {
            let (view, source, join_keys) = self.view(&request.project, &name).await?;
            let done = self.materializations.done(&request.project, &name).await?;
            let start_us = if request.incremental {
                done.iter().map(|(_, e)| e + 1).max().unwrap_or(0)
            } else {
                micros(request.start.as_ref())
                    .ok_or_else(|| Error::invalid("start: give the start, or use incremental"))?
            };
            if start_us > end_us {
                views.push(report(&name, start_us, end_us, 0, 0, 0));
                continue;
            }
            let gaps = subtract(start_us, end_us, &done);
            let skipped = u32::try_from(
                done.iter()
                    .filter(|(s, e)| *e >= start_us && *s <= end_us)
                    .count(),
            )
            .unwrap_or(0);
            let aggregations = aggregation::of_view(&view, None);
            // An aggregated view over a push source rebuilds its tiles from the batch source.
            let source = match (&source.file, aggregations.is_empty()) {
                (None, false) => self
                    .offline_source(&request.project, &source)
                    .await?
                    .unwrap_or(source),
                _ => source,
            };
            let Some(file) = source.file.clone() else {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "feature view '{name}' reads a push source{}; pushed rows reach the online store directly",
                        if aggregations.is_empty() {
                            ""
                        } else {
                            " without a batch source"
                        }
                    ),
                ));
            };
            let scan = Scan {
                view: &view,
                source: &source,
                path: &file.path,
                join_keys: &join_keys,
                features: if aggregations.is_empty() {
                    view.schema.iter().map(|f| f.name.clone()).collect()
                } else {
                    aggregation::input_columns(&aggregations)
                },
            };
            let mut reporter = Reporter::new(progress, &name);
            let entities = if aggregations.is_empty() {
                let latest = self.latest_in(&scan, &gaps, &mut reporter).await?;
                self.write_latest(&request.project, &scan, latest, &mut reporter)
                    .await?
            } else if gaps.is_empty() {
                0
            } else {
                // An aggregated view's state is rebuilt as of the end, whatever the start.
                let folded = self
                    .fold_window(&scan, &aggregations, end_us, now_us, &mut reporter)
                    .await?;
                reporter.progress.entities_total = folded.len() as u64;
                let mut written = 0;
                for chunk in folded.chunks(WRITE_CHUNK) {
                    written += self
                        .write_aggregates(&request.project, &view, chunk.to_vec(), end_us, now_us)
                        .await?;
                    reporter.progress.entities_written = written;
                    reporter.tick();
                }
                reporter.send();
                written
            };
            let rows_scanned = reporter.progress.rows_scanned;
            if !gaps.is_empty() {
                let run = RunRecord {
                    interval: (start_us, end_us),
                    rows_scanned,
                    entities,
                };
                self.materializations
                    .record(&request.project, &name, &gaps, run)
                    .await?;
            }
            tracing::info!(project = %request.project, view = %name, rows_scanned, entities, "materialized");
            views.push(report(&name, start_us, end_us, rows_scanned, entities, skipped));
        }
        Ok(pb::MaterializeResponse { views })
    }

    /// Per entity, the latest source row whose event time falls in one of `intervals`, keyed
    /// by the entity's row-encoded join key.
    async fn latest_in(
        &self,
        scan: &Scan<'_>,
        intervals: &[(i64, i64)],
        reporter: &mut Reporter<'_>,
    ) -> Result<LatestRows> {
        let mut latest = LatestRows::default();
        if intervals.is_empty() {
            // Nothing to scan: the report write_latest sends at its end is the only one.
            return Ok(latest);
        }
        self.scan_batches(scan, reporter, |batch| {
            merge_latest(batch, scan, intervals, &mut latest)
        })
        .await?;
        reporter.progress.entities_total = latest.len() as u64;
        reporter.send();
        Ok(latest)
    }

    /// Streams the source's files, projected to the join keys, the time columns and
    /// `scan.features`, one batch at a time into `each`, counting rows in the progress.
    pub(super) async fn scan_batches(
        &self,
        scan: &Scan<'_>,
        reporter: &mut Reporter<'_>,
        mut each: impl FnMut(&RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let lookup = FeatureViewSource {
            name: scan.view.name.clone(),
            location: Path::from(scan.path),
            join_keys: scan.join_keys.to_vec(),
            timestamp_field: scan.source.timestamp_field.clone(),
            created_timestamp_field: scan.source.created_timestamp_field.clone(),
            ttl: Duration::ZERO,
            features: Vec::new(),
            aggregations: Vec::new(),
        };
        let files = offline::source::source_files(self.objects.as_ref(), &lookup).await?;
        // Open every footer first: their row counts are the total that progress counts toward.
        let mut builders = Vec::with_capacity(files.len());
        for file in &files {
            let reader = offline::object_reader::ObjectReader::new(self.objects.clone(), file);
            let builder = ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .map_err(|e| Error::invalid(format!("source file {}: {e}", file.location)))?;
            let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
            reporter.progress.rows_total += rows;
            builders.push((file, builder));
        }
        reporter.send();
        for (file, builder) in builders {
            let schema = builder.schema().clone();
            let mut wanted: Vec<&str> = scan.join_keys.iter().map(String::as_str).collect();
            wanted.push(&scan.source.timestamp_field);
            if let Some(created) = &scan.source.created_timestamp_field {
                wanted.push(created);
            }
            wanted.extend(scan.features.iter().map(String::as_str));
            let mut indices = Vec::with_capacity(wanted.len());
            for column in &wanted {
                let index = schema.index_of(column).map_err(|_| {
                    Error::invalid(format!(
                        "source file {} of view '{}' has no column '{column}'",
                        file.location, scan.view.name
                    ))
                })?;
                indices.push(index);
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            let mut stream = builder
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| Error::invalid(e.to_string()))?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|e| Error::invalid(format!("source file {}: {e}", file.location)))?
            {
                each(&batch)?;
                reporter.progress.rows_scanned += batch.num_rows() as u64;
                reporter.tick();
            }
        }
        Ok(())
    }

    /// Writes the rows to the online store, a chunk at a time with a few chunks in flight;
    /// returns how many entities were written.
    async fn write_latest(
        &self,
        project: &str,
        scan: &Scan<'_>,
        latest: LatestRows,
        reporter: &mut Reporter<'_>,
    ) -> Result<u64> {
        let mut rows = latest.rows.into_iter();
        let mut pending = FuturesUnordered::new();
        let mut written = 0u64;
        loop {
            while pending.len() < WRITES_IN_FLIGHT {
                let chunk = rows
                    .by_ref()
                    .take(WRITE_CHUNK)
                    .filter_map(|row| online_row(scan, row))
                    .collect::<Vec<_>>();
                if chunk.is_empty() {
                    break;
                }
                let count = chunk.len() as u64;
                let online = Arc::clone(&self.online);
                let view = &scan.view.name;
                pending.push(async move { online.write(project, view, chunk).await.map(|_| count) });
            }
            match pending.next().await {
                None => break,
                Some(result) => {
                    written += result?;
                    reporter.progress.entities_written = written;
                    reporter.tick();
                }
            }
        }
        reporter.send();
        Ok(written)
    }
}

/// A kept row in the online store's shape; `None` for a key the online store cannot hold
/// (a join key of a type that cannot identify an entity), which is skipped.
fn online_row(scan: &Scan<'_>, row: Latest) -> Option<(EntityKey, FeatureRow)> {
    let key = EntityKey::new(scan.join_keys.iter().map(String::as_str).zip(row.key)).ok()?;
    let values = scan.features.iter().cloned().zip(row.values).collect();
    Some((
        key,
        FeatureRow {
            event_ts_us: row.event_ts_us,
            created_ts_us: row.created_ts_us,
            values,
        },
    ))
}

fn report(
    name: &str,
    start_us: i64,
    end_us: i64,
    rows: u64,
    entities: u64,
    skipped: u32,
) -> pb::ViewMaterialization {
    pb::ViewMaterialization {
        feature_view: name.to_owned(),
        start: Some(wire_timestamp(start_us)),
        end: Some(wire_timestamp(end_us)),
        rows_scanned: rows,
        entities_written: entities,
        intervals_skipped: skipped,
    }
}

/// Microseconds since the epoch as a wire timestamp.
pub(super) fn wire_timestamp(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// A wire timestamp as microseconds since the epoch.
pub(super) fn micros(ts: Option<&prost_types::Timestamp>) -> Option<i64> {
    ts.map(|t| {
        t.seconds
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(t.nanos) / 1000)
    })
}

/// `[start, end]` minus the (inclusive) intervals in `done`, as inclusive gaps.
pub fn subtract(start: i64, end: i64, done: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut sorted = done.to_vec();
    sorted.sort_unstable();
    let mut gaps = Vec::new();
    let mut cursor = start;
    for (s, e) in sorted {
        if e < cursor || s > end {
            continue;
        }
        if s > cursor {
            gaps.push((cursor, s - 1));
        }
        cursor = cursor.max(e.saturating_add(1));
        if cursor > end {
            return gaps;
        }
    }
    if cursor <= end {
        gaps.push((cursor, end));
    }
    gaps
}

/// A join key column in the one type per kind that row-encodes alike across files, so that
/// an int32 key in one file and an int64 key in another name the same entity.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "arrow's DataType is foreign and large: the types not listed are kept as they are"
)]
pub(super) fn comparable(column: &ArrayRef) -> Result<ArrayRef> {
    let target = match column.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => DataType::Int64,
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, values) => values.as_ref().clone(),
        _ => return Ok(Arc::clone(column)),
    };
    cast(column, &target).map_err(|e| Error::invalid(format!("join key column: {e}")))
}

/// Folds one batch into the latest row per entity (event time, then created time). Rows
/// with a null event time or a null join key identify nothing and are skipped.
fn merge_latest(
    batch: &RecordBatch,
    scan: &Scan<'_>,
    intervals: &[(i64, i64)],
    latest: &mut LatestRows,
) -> Result<()> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| Error::invalid(format!("source has no column '{name}'")))
    };
    let timestamps = |name: &str| {
        offline::timestamps::epoch_micros(column(name)?.as_ref())
            .ok_or_else(|| Error::invalid(format!("source column '{name}' is not a timestamp")))
    };
    let event = timestamps(&scan.source.timestamp_field)?;
    let created = match &scan.source.created_timestamp_field {
        Some(name) => Some(timestamps(name)?),
        None => None,
    };
    let keys: Vec<&ArrayRef> = scan.join_keys.iter().map(|k| column(k)).collect::<Result<_>>()?;
    let values: Vec<&ArrayRef> = scan.features.iter().map(|f| column(f)).collect::<Result<_>>()?;
    let encodable: Vec<ArrayRef> = keys.iter().map(|k| comparable(k)).collect::<Result<_>>()?;
    let encoded = BatchKeys::new(&encodable)?;
    for row in 0..batch.num_rows() {
        if event.is_null(row) || keys.iter().any(|k| k.is_null(row)) {
            continue;
        }
        let ts = event.value(row);
        if !intervals.iter().any(|(s, e)| *s <= ts && ts <= *e) {
            continue;
        }
        let created_ts = created
            .as_ref()
            .and_then(|c| (!c.is_null(row)).then(|| c.value(row)));
        let key = encoded.key(row);
        match latest.get_mut(key) {
            Some(kept) => {
                if (ts, created_ts) >= (kept.event_ts_us, kept.created_ts_us) {
                    kept.event_ts_us = ts;
                    kept.created_ts_us = created_ts;
                    kept.values.clear();
                    kept.values
                        .extend(values.iter().map(|a| arrow_value(a.as_ref(), row)));
                }
            }
            None => latest.insert(
                key,
                Latest {
                    key: keys.iter().map(|k| arrow_value(k.as_ref(), row)).collect(),
                    event_ts_us: ts,
                    created_ts_us: created_ts,
                    values: values.iter().map(|a| arrow_value(a.as_ref(), row)).collect(),
                },
            )?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int32Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn specs() -> (FeatureViewSpec, SourceSpec) {
        let view = serde_json::from_value(serde_json::json!({
            "name": "stats", "entities": [], "source": "stats_source",
            "schema": [{"name": "rate", "type": "float64"}],
        }))
        .unwrap();
        let source = serde_json::from_value(serde_json::json!({
            "name": "stats_source", "file": {"path": "stats.parquet"},
            "created_timestamp_field": "created",
        }))
        .unwrap();
        (view, source)
    }

    /// Rows of (key columns, event time, created time, rate).
    fn batch(keys: Vec<(&str, ArrayRef)>, rows: &[(i64, Option<i64>, f64)]) -> RecordBatch {
        let mut fields: Vec<Field> = keys
            .iter()
            .map(|(name, column)| Field::new(*name, column.data_type().clone(), true))
            .collect();
        let mut columns: Vec<ArrayRef> = keys.into_iter().map(|(_, column)| column).collect();
        let micros = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None);
        fields.push(Field::new("event_timestamp", micros.clone(), true));
        fields.push(Field::new("created", micros, true));
        fields.push(Field::new("rate", DataType::Float64, true));
        columns.push(Arc::new(TimestampMicrosecondArray::from_iter_values(
            rows.iter().map(|r| r.0),
        )));
        columns.push(Arc::new(TimestampMicrosecondArray::from_iter(
            rows.iter().map(|r| r.1),
        )));
        columns.push(Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn latest_of(
        join_keys: &[&str],
        batches: &[RecordBatch],
        intervals: &[(i64, i64)],
    ) -> Vec<(Vec<Value>, i64, f64)> {
        let (view, source) = specs();
        let join_keys: Vec<String> = join_keys.iter().map(|k| (*k).to_owned()).collect();
        let scan = Scan {
            view: &view,
            source: &source,
            path: "stats.parquet",
            join_keys: &join_keys,
            features: vec!["rate".to_owned()],
        };
        let mut latest = LatestRows::default();
        for batch in batches {
            merge_latest(batch, &scan, intervals, &mut latest).unwrap();
        }
        let mut rows: Vec<(Vec<Value>, i64, f64)> = latest
            .rows
            .into_iter()
            .map(|row| match row.values.as_slice() {
                [Value::Float64(rate)] => (row.key, row.event_ts_us, *rate),
                other => panic!("unexpected values {other:?}"),
            })
            .collect();
        rows.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        rows
    }

    #[test]
    fn the_latest_row_per_entity_wins_across_batches_whatever_the_key_kind() {
        let rows = [
            (10, None, 1.0),
            (30, Some(1), 2.0),
            (30, Some(2), 3.0),
            (20, None, 4.0),
        ];
        // One integer key (an int32 column in one batch, int64 in the next, as two files may
        // have), one string key, and a composite key.
        let ints = |values: [i32; 4]| -> ArrayRef { Arc::new(Int32Array::from(values.to_vec())) };
        let longs =
            |values: [i64; 4]| -> ArrayRef { Arc::new(arrow::array::Int64Array::from(values.to_vec())) };
        let texts = |values: [&str; 4]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
        let first = batch(vec![("id", ints([1, 1, 2, 1]))], &rows);
        let second = batch(
            vec![("id", longs([1, 2, 2, 2]))],
            &[
                (25, None, 5.0),
                (5, None, 6.0),
                (30, Some(9), 7.0),
                (40, None, 8.0),
            ],
        );
        assert_eq!(
            latest_of(&["id"], &[first, second], &[(0, 35)]),
            [(vec![Value::Int32(1)], 30, 2.0), (vec![Value::Int32(2)], 30, 7.0)],
            "one entity whatever the integer width; the event time wins, then the created time; \
             40 lies outside the window"
        );

        let by_name = batch(vec![("name", texts(["a", "b", "a", "a"]))], &rows);
        assert_eq!(
            latest_of(&["name"], &[by_name], &[(0, 100)]),
            [
                (vec![Value::String("a".into())], 30, 3.0),
                (vec![Value::String("b".into())], 30, 2.0)
            ]
        );

        let composite = batch(
            vec![("id", longs([1, 1, 1, 2])), ("name", texts(["a", "b", "a", "a"]))],
            &rows,
        );
        assert_eq!(
            latest_of(&["id", "name"], &[composite], &[(0, 15), (25, 100)]),
            [
                (vec![Value::Int64(1), Value::String("a".into())], 30, 3.0),
                (vec![Value::Int64(1), Value::String("b".into())], 30, 2.0),
            ],
            "(2, a) has its only row at 20, between the two intervals"
        );
    }

    #[test]
    fn done_intervals_are_skipped() {
        assert_eq!(subtract(0, 100, &[]), [(0, 100)]);
        assert_eq!(subtract(0, 100, &[(0, 100)]), []);
        assert_eq!(
            subtract(0, 100, &[(10, 20), (50, 60)]),
            [(0, 9), (21, 49), (61, 100)]
        );
        assert_eq!(subtract(0, 100, &[(-50, 30), (90, 200)]), [(31, 89)]);
        assert_eq!(subtract(50, 60, &[(0, 10)]), [(50, 60)]);
    }
}
