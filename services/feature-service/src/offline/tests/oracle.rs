//! The join against a naive scan of every source row for every entity row, on small random
//! data with many ties, duplicates and nulls, read through tiny batches and many files.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::super::FeatureViewSource;
use super::super::historical_features::{Tuning, retrieve};
use super::parquet_in_row_groups;

const SECOND: i64 = 1_000_000;
const CITIES: [&str; 2] = ["oslo", "rome"];

#[derive(Debug, Clone)]
struct SourceRow {
    driver: Option<i64>,
    city: Option<&'static str>,
    /// Seconds; the source stores them in `Case::unit`.
    time: Option<i64>,
    created: Option<i64>,
    trips: Option<i64>,
    name: Option<String>,
    rate: Option<f64>,
}

#[derive(Debug, Clone)]
struct EntityRow {
    driver: Option<i64>,
    city: Option<&'static str>,
    /// Microseconds; whole seconds mostly, so ttl bounds are hit exactly.
    time: i64,
}

#[derive(Debug, Clone)]
struct Case {
    source: Vec<SourceRow>,
    /// Where the source is cut into files (sorted, may repeat: empty files).
    cuts: Vec<usize>,
    row_group_rows: usize,
    entities: Vec<EntityRow>,
    ttl_by_driver: u64,
    ttl_by_driver_and_city: u64,
    /// 0 s, 1 ms, 2 µs, 3 ns
    unit: u8,
    zoned: bool,
    full_feature_names: bool,
    tuning: Tuning,
}

fn city() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![8 => prop::sample::select(&CITIES[..]).prop_map(Some), 1 => Just(None)]
}

fn source_row() -> impl Strategy<Value = SourceRow> {
    (
        prop::option::weighted(0.95, 0..4i64),
        city(),
        prop::option::weighted(0.9, 0..10i64),
        prop::option::weighted(0.7, 0..3i64),
        prop::option::weighted(0.8, 0..1000i64),
        prop::option::weighted(0.8, "[a-c]{0,3}"),
        prop::option::weighted(0.8, -10.0..10.0f64),
    )
        .prop_map(|(driver, city, time, created, trips, name, rate)| SourceRow {
            driver,
            city,
            time,
            created,
            trips,
            name,
            rate,
        })
}

fn entity_row() -> impl Strategy<Value = EntityRow> {
    (
        prop::option::weighted(0.95, 0..5i64),
        city(),
        -1..12i64,
        prop_oneof![6 => Just(0i64), 1 => Just(1), 1 => Just(-1)],
    )
        .prop_map(|(driver, city, seconds, nudge)| EntityRow {
            driver,
            city,
            time: seconds * SECOND + nudge,
        })
}

fn ttl() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1..5u64]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(source_row(), 0..40),
        prop::collection::vec(0..40usize, 0..4),
        1..6usize,
        prop::collection::vec(entity_row(), 0..25),
        (ttl(), ttl()),
        (0..4u8, any::<bool>(), any::<bool>()),
        (1..6usize, 1..8usize, 1..4usize),
    )
        .prop_map(
            |(
                source,
                mut cuts,
                row_group_rows,
                entities,
                ttls,
                (unit, zoned, full),
                (batch, compaction, workers),
            )| {
                cuts.iter_mut().for_each(|cut| *cut = (*cut).min(source.len()));
                cuts.sort_unstable();
                Case {
                    source,
                    cuts,
                    row_group_rows,
                    entities,
                    ttl_by_driver: ttls.0,
                    ttl_by_driver_and_city: ttls.1,
                    unit,
                    zoned,
                    full_feature_names: full,
                    tuning: Tuning {
                        batch_rows: batch,
                        min_compaction_rows: compaction,
                        workers,
                    },
                }
            },
        )
}

fn source_batch(case: &Case, rows: &[SourceRow]) -> RecordBatch {
    let zone = case.zoned.then_some("UTC");
    let seconds = rows.iter().map(|row| row.time);
    let time: ArrayRef = match case.unit {
        0 => Arc::new(TimestampSecondArray::from_iter(seconds).with_timezone_opt(zone)),
        1 => Arc::new(
            TimestampMillisecondArray::from_iter(seconds.map(|s| s.map(|s| s * 1_000)))
                .with_timezone_opt(zone),
        ),
        2 => Arc::new(
            TimestampMicrosecondArray::from_iter(seconds.map(|s| s.map(|s| s * SECOND)))
                .with_timezone_opt(zone),
        ),
        _ => Arc::new(
            TimestampNanosecondArray::from_iter(seconds.map(|s| s.map(|s| s * 1_000_000_000)))
                .with_timezone_opt(zone),
        ),
    };
    RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.driver))) as ArrayRef,
        ),
        (
            "city",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.city))),
        ),
        ("event_timestamp", time),
        (
            "created",
            Arc::new(TimestampMillisecondArray::from_iter(
                rows.iter().map(|r| r.created.map(|c| c * 1_000)),
            )),
        ),
        (
            "trips",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.trips))),
        ),
        (
            "name",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.name.as_deref()))),
        ),
        (
            "rate",
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.rate))),
        ),
    ])
    .unwrap()
}

async fn write_source(store: &dyn ObjectStore, case: &Case) {
    let mut bounds = vec![0];
    bounds.extend(&case.cuts);
    bounds.push(case.source.len());
    for (file, span) in bounds.windows(2).enumerate() {
        let batch = source_batch(case, &case.source[span[0]..span[1]]);
        let bytes = parquet_in_row_groups(&batch, case.row_group_rows);
        let location = Path::from(format!("stats/part-{file:02}.parquet"));
        store.put(&location, PutPayload::from(bytes)).await.unwrap();
    }
}

fn entity_frame(entities: &[EntityRow]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "row",
            Arc::new(Int64Array::from_iter_values(0..entities.len() as i64)) as ArrayRef,
        ),
        (
            "driver_id",
            Arc::new(Int64Array::from_iter(entities.iter().map(|e| e.driver))),
        ),
        (
            "city",
            Arc::new(StringArray::from_iter(entities.iter().map(|e| e.city))),
        ),
        (
            "event_timestamp",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(entities.iter().map(|e| e.time))
                    .with_timezone("UTC"),
            ),
        ),
    ])
    .unwrap()
}

fn views(case: &Case) -> [FeatureViewSource; 2] {
    [
        FeatureViewSource {
            name: "by_driver".into(),
            location: Path::from("stats"),
            join_keys: vec!["driver_id".into()],
            timestamp_field: "event_timestamp".into(),
            created_timestamp_field: Some("created".into()),
            ttl: Duration::from_secs(case.ttl_by_driver),
            features: vec!["trips".into(), "name".into()],
            aggregations: Vec::new(),
        },
        FeatureViewSource {
            name: "by_driver_and_city".into(),
            location: Path::from("stats"),
            join_keys: vec!["city".into(), "driver_id".into()],
            timestamp_field: "event_timestamp".into(),
            created_timestamp_field: None,
            ttl: Duration::from_secs(case.ttl_by_driver_and_city),
            features: vec!["rate".into()],
            aggregations: Vec::new(),
        },
    ]
}

/// The chosen source row per entity row, by scanning every source row in file order.
fn naive_scan(case: &Case, with_city: bool, use_created: bool, ttl_seconds: u64) -> Vec<Option<&SourceRow>> {
    case.entities
        .iter()
        .map(|entity| {
            let mut best: Option<((i64, Option<i64>), &SourceRow)> = None;
            for row in &case.source {
                let same_key = entity.driver.is_some()
                    && row.driver == entity.driver
                    && (!with_city || (entity.city.is_some() && row.city == entity.city));
                let Some(seconds) = row.time else { continue };
                let time = seconds * SECOND;
                let in_window = time <= entity.time
                    && (ttl_seconds == 0 || time >= entity.time - ttl_seconds as i64 * SECOND);
                if !same_key || !in_window {
                    continue;
                }
                let rank = (time, if use_created { row.created } else { None });
                if best.is_none_or(|(best_rank, _)| rank > best_rank) {
                    best = Some((rank, row));
                }
            }
            best.map(|(_, row)| row)
        })
        .collect()
}

fn check(case: &Case, out: &RecordBatch) -> Result<(), TestCaseError> {
    let name = |view: &str, feature: &str| {
        if case.full_feature_names {
            format!("{view}__{feature}")
        } else {
            feature.to_owned()
        }
    };
    prop_assert_eq!(out.num_rows(), case.entities.len());
    let rows: Vec<i64> = out.column(0).as_primitive::<Int64Type>().values().to_vec();
    prop_assert_eq!(rows, (0..case.entities.len() as i64).collect::<Vec<_>>());

    let by_driver = naive_scan(case, false, true, case.ttl_by_driver);
    let trips: Vec<Option<i64>> = out
        .column_by_name(&name("by_driver", "trips"))
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect();
    let expected: Vec<Option<i64>> = by_driver.iter().map(|row| row.and_then(|r| r.trips)).collect();
    prop_assert_eq!(trips, expected);
    let names: Vec<Option<String>> = out
        .column_by_name(&name("by_driver", "name"))
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect();
    let expected: Vec<Option<String>> = by_driver
        .iter()
        .map(|row| row.and_then(|r| r.name.clone()))
        .collect();
    prop_assert_eq!(names, expected);

    let by_city = naive_scan(case, true, false, case.ttl_by_driver_and_city);
    let rates = out.column_by_name(&name("by_driver_and_city", "rate")).unwrap();
    prop_assert!(rates.data_type() == &arrow::datatypes::DataType::Float64);
    let rates: Vec<Option<f64>> = rates.as_primitive::<Float64Type>().iter().collect();
    let expected: Vec<Option<f64>> = by_city.iter().map(|row| row.and_then(|r| r.rate)).collect();
    prop_assert_eq!(rates, expected);
    Ok(())
}

#[test]
fn offline_join_matches_a_naive_scan_on_random_data() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |case| {
            let out = runtime.block_on(async {
                let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                write_source(store.as_ref(), &case).await;
                retrieve(
                    store,
                    entity_frame(&case.entities),
                    &views(&case),
                    case.full_feature_names,
                    case.tuning,
                )
                .await
            });
            let out = out.map_err(|err| TestCaseError::fail(err.to_string()))?;
            check(&case, &out)
        })
        .unwrap();
}
