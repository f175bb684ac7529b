//! Window aggregations against a brute-force oracle: for every entity row, every event of its
//! key filtered by the documented window and aggregated directly. Random event streams with
//! times on and around tile edges (ties with the entity rows' times included), nulls, keys
//! with no events, files cut anywhere in random order, tiny batches and several workers.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{Float64Type, Int64Type};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::super::FeatureViewSource;
use super::super::historical_features::{Tuning, retrieve};
use super::{parquet_in_row_groups, timestamps};
use crate::aggregation::datum::hash_tagged_str;
use crate::aggregation::hll::Hll;
use crate::aggregation::{self, Aggregation};
use crate::definitions::spec::{AggregateFunction, AggregationSpec};

const MINUTE: i64 = 60_000_000;
const CITIES: [&str; 3] = ["oslo", "rome", "lima"];

#[derive(Debug, Clone)]
struct Event {
    driver: Option<i64>,
    time: i64,
    trip: Option<i32>,
    fare: Option<f64>,
    city: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Case {
    events: Vec<Event>,
    cuts: Vec<usize>,
    row_group_rows: usize,
    entities: Vec<(Option<i64>, i64)>,
    tuning: Tuning,
}

/// A time on or next to a minute edge (tiles are whole minutes, hours or 5 minutes), over
/// two days.
fn time() -> impl Strategy<Value = i64> {
    (
        0..2_880i64,
        prop_oneof![Just(0i64), Just(1), Just(30_000_000), Just(MINUTE - 1)],
    )
        .prop_map(|(minute, offset)| minute * MINUTE + offset)
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop_oneof![9 => (1..4i64).prop_map(Some), 1 => Just(None)],
        time(),
        prop::option::weighted(0.9, 0..1_000i32),
        prop::option::weighted(0.9, prop_oneof![(-50.0..500.0f64), Just(12.5)]),
        prop::option::weighted(0.9, prop::sample::select(CITIES.to_vec())),
    )
        .prop_map(|(driver, time, trip, fare, city)| Event {
            driver,
            time,
            trip,
            fare,
            city,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(event(), 0..150),
        prop::collection::vec(0..150usize, 0..4),
        1..40usize,
        prop::collection::vec((prop::option::weighted(0.95, 0..5i64), time()), 0..30),
        (1..50usize, 1..4usize),
    )
        .prop_map(
            |(events, mut cuts, row_group_rows, entities, (batch_rows, workers))| {
                cuts.iter_mut().for_each(|cut| *cut = (*cut).min(events.len()));
                cuts.sort_unstable();
                Case {
                    events,
                    cuts,
                    row_group_rows,
                    entities,
                    tuning: Tuning {
                        batch_rows,
                        min_compaction_rows: 8,
                        workers,
                    },
                }
            },
        )
}

fn aggregations() -> Vec<Aggregation> {
    let spec = |column: &str, function, window| {
        Aggregation::new(&AggregationSpec {
            column: column.to_owned(),
            function,
            window,
        })
    };
    use AggregateFunction::*;
    vec![
        spec("trip", Count, 1_440),
        spec("fare", Sum, 1_440),
        spec("fare", Mean, 7_200),
        spec("fare", Min, 7_200),
        spec("fare", Max, 86_400),
        spec("fare", Stddev, 86_400),
        spec("fare", Last, 7_200),
        spec("city", ApproxCountDistinct, 86_400),
        spec("fare", Count, 86_400),
    ]
}

fn event_batch(events: &[Event]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter(events.iter().map(|e| e.driver))) as ArrayRef,
        ),
        ("event_timestamp", timestamps(events.iter().map(|e| Some(e.time)))),
        (
            "trip",
            Arc::new(Int32Array::from_iter(events.iter().map(|e| e.trip))),
        ),
        (
            "fare",
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.fare))),
        ),
        (
            "city",
            Arc::new(StringArray::from_iter(events.iter().map(|e| e.city))),
        ),
    ])
    .unwrap()
}

async fn write_events(store: &dyn ObjectStore, case: &Case) {
    let mut bounds = vec![0];
    bounds.extend(&case.cuts);
    bounds.push(case.events.len());
    for (file, span) in bounds.windows(2).enumerate() {
        let bytes = parquet_in_row_groups(&event_batch(&case.events[span[0]..span[1]]), case.row_group_rows);
        // Files are read in path order: the later events' file comes first.
        let location = Path::from(format!("trips/part-{:02}.parquet", 99 - file));
        store.put(&location, PutPayload::from(bytes)).await.unwrap();
    }
}

fn entity_frame(entities: &[(Option<i64>, i64)]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter(entities.iter().map(|e| e.0))) as ArrayRef,
        ),
        ("event_timestamp", timestamps(entities.iter().map(|e| Some(e.1)))),
    ])
    .unwrap()
}

fn view(aggregations: Vec<Aggregation>) -> FeatureViewSource {
    FeatureViewSource {
        name: "trips".to_owned(),
        location: Path::from("trips"),
        join_keys: vec!["driver_id".to_owned()],
        timestamp_field: "event_timestamp".to_owned(),
        created_timestamp_field: None,
        ttl: Duration::ZERO,
        features: aggregation::input_columns(&aggregations),
        aggregations,
    }
}

/// The value the oracle expects: an integer, a float, or null.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expected {
    Int(i64),
    Float(f64),
    Null,
}

/// Aggregates the events of `driver` in the window at `time`, written out by hand.
fn oracle(events: &[Event], driver: Option<i64>, time: i64, spec: &Aggregation) -> Expected {
    use AggregateFunction::*;
    let Some(driver) = driver else {
        return Expected::Null;
    };
    let (window, tile) = (spec.window_us, spec.tile_us);
    let start = time.div_euclid(tile) * tile - window + tile;
    let within: Vec<&Event> = events
        .iter()
        .filter(|e| e.driver == Some(driver) && e.time >= start && e.time <= time)
        .collect();
    let fares: Vec<(i64, f64)> = within
        .iter()
        .filter_map(|e| e.fare.map(|f| (e.time, f)))
        .collect();
    let values: Vec<f64> = fares.iter().map(|(_, f)| *f).collect();
    let n = values.len() as f64;
    let float = |v: f64| {
        if values.is_empty() {
            Expected::Null
        } else {
            Expected::Float(v)
        }
    };
    match (spec.function, spec.column.as_str()) {
        (Count, "trip") => Expected::Int(within.iter().filter(|e| e.trip.is_some()).count() as i64),
        (Count, _) => Expected::Int(values.len() as i64),
        (Sum, _) => float(values.iter().sum()),
        (Mean, _) => float(values.iter().sum::<f64>() / n),
        (Min, _) => float(values.iter().copied().fold(f64::INFINITY, f64::min)),
        (Max, _) => float(values.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        (Stddev, _) => {
            let mean = values.iter().sum::<f64>() / n;
            float((values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt())
        }
        (Last, _) => {
            let last = fares
                .iter()
                .copied()
                .max_by(|a, b| a.partial_cmp(b).expect("no NaN"));
            last.map_or(Expected::Null, |(_, v)| Expected::Float(v))
        }
        (ApproxCountDistinct, _) => {
            let mut sketch = Hll::default();
            for city in within.iter().filter_map(|e| e.city) {
                sketch.insert(hash_tagged_str(city));
            }
            Expected::Int(sketch.estimate())
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check(case: &Case, specs: &[Aggregation], out: &RecordBatch) -> Result<(), TestCaseError> {
    prop_assert_eq!(out.num_rows(), case.entities.len());
    for (a, spec) in specs.iter().enumerate() {
        let column = out
            .column_by_name(&spec.output)
            .ok_or_else(|| TestCaseError::fail(format!("no column {}", spec.output)))?;
        for (row, (driver, time)) in case.entities.iter().enumerate() {
            let expected = oracle(&case.events, *driver, *time, spec);
            let got = if column.is_null(row) {
                Expected::Null
            } else if spec.function.numeric() {
                Expected::Float(column.as_primitive::<Float64Type>().value(row))
            } else {
                Expected::Int(column.as_primitive::<Int64Type>().value(row))
            };
            let same = match (expected, got) {
                (Expected::Float(e), Expected::Float(g)) => close(e, g),
                (e, g) => e == g,
            };
            prop_assert!(
                same,
                "aggregation {} ({}) row {row} (driver {driver:?} at {time}): expected {expected:?}, got {got:?}",
                a,
                spec.output
            );
        }
    }
    Ok(())
}

#[test]
fn offline_aggregations_match_a_brute_force_oracle_on_random_streams() {
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
            let specs = aggregations();
            let out = runtime.block_on(async {
                let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                write_events(store.as_ref(), &case).await;
                retrieve(
                    store,
                    entity_frame(&case.entities),
                    &[view(specs.clone())],
                    false,
                    case.tuning,
                )
                .await
            });
            let out = out.map_err(|err| TestCaseError::fail(err.to_string()))?;
            check(&case, &specs, &out)
        })
        .unwrap();
}

#[test]
fn offline_aggregations_refuse_a_column_they_cannot_read() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let case = Case {
        events: vec![Event {
            driver: Some(1),
            time: 0,
            trip: None,
            fare: None,
            city: Some("oslo"),
        }],
        cuts: Vec::new(),
        row_group_rows: 10,
        entities: vec![(Some(1), MINUTE)],
        tuning: Tuning::default(),
    };
    let sum_of_cities = Aggregation::new(&AggregationSpec {
        column: "city".to_owned(),
        function: AggregateFunction::Sum,
        window: 3_600,
    });
    let err = runtime
        .block_on(async {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            write_events(store.as_ref(), &case).await;
            retrieve(
                store,
                entity_frame(&case.entities),
                &[view(vec![sum_of_cities])],
                false,
                case.tuning,
            )
            .await
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`city`") && err.contains("sum needs a numeric column"),
        "{err}"
    );
}
