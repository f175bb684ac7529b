//! Aggregated views through push, materialization and online reads, on both online stores,
//! against the offline retrieval of the same events: an online read at `T` equals the
//! training-set value for (key, `T`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, RecordBatchReader, StringArray,
};
use arrow::datatypes::{Float64Type, Int64Type};
use lathe_common::ErrorCode;
use lathe_common::config::DatabaseSettings;
use lathe_contract::features::v1 as pb;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm_migration::MigratorTrait;

use super::FeatureValues;
use super::value_conversion::value_to_proto;
use crate::definitions::plan::plan;
use crate::definitions::repository::load;
use crate::logging;
use crate::online::{EmbeddedOnlineStore, OnlineStore, RedisOnlineStore, Value};
use crate::store::definitions::DefinitionStore;
use crate::store::materializations::Materializations;

const MINUTE: i64 = 60_000_000;
/// 2026-01-01T00:00:00Z, the tests' start of time.
const T0: i64 = 1_767_225_600_000_000;
const FEATURES: [&str; 7] = [
    "trip_id_count_1h",
    "fare_sum_1h",
    "fare_mean_1d",
    "fare_stddev_1d",
    "fare_max_1d",
    "fare_last_1d",
    "city_approx_count_distinct_1d",
];

fn repository(views: &[(&str, &str)]) -> String {
    let mut repo = String::from(
        r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: trip_events
    push: {}
  - name: reference
    file: {path: reference/}
  - name: trips_file
    file: {path: trips/}
feature_views:
"#,
    );
    for (name, source) in views {
        repo.push_str(&format!(
            r#"  - name: {name}
    entities: [driver]
    source: {source}
    allowed_lateness: 2h
    aggregations:
      - {{column: trip_id, function: count, window: 1h}}
      - {{column: fare, function: sum, window: 1h}}
      - {{column: fare, function: mean, window: 1d}}
      - {{column: fare, function: stddev, window: 1d}}
      - {{column: fare, function: max, window: 1d}}
      - {{column: fare, function: last, window: 1d}}
      - {{column: city, function: approx_count_distinct, window: 1d}}
"#
        ));
    }
    repo
}

/// One event: driver, time, trip id, fare, city.
type Trip = (i64, i64, Option<i64>, Option<f64>, Option<&'static str>);

struct Fixture {
    values: FeatureValues,
    objects: Arc<dyn ObjectStore>,
    online: Arc<dyn OnlineStore>,
    project: String,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Redis keeps what a test wrote: remove the project's views.
        let (online, project) = (self.online.clone(), self.project.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            for view in ["trips", "reference", "from_file"] {
                let _ = runtime.block_on(online.delete_view(&project, view));
            }
        });
        let _ = cleanup.join();
    }
}

async fn fixture(redis: bool) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/features.db", dir.path().display());
    let db = lathe_common::db::connect(&url, &DatabaseSettings::default(), "test.database")
        .await
        .unwrap();
    crate::store::migration::Migrator::up(&db, None).await.unwrap();
    let project = format!("agg_{}", uuid::Uuid::new_v4().simple());
    let definitions = DefinitionStore::new(db.clone());
    let repo = repository(&[
        ("trips", "trip_events"),
        ("reference", "reference"),
        ("from_file", "trips_file"),
    ]);
    let repo = load(&project, &[("features.yaml".into(), repo)]).unwrap();
    let changes = plan(&repo, &definitions.list(&project, None).await.unwrap()).unwrap();
    definitions.apply(&project, &changes, "tester").await.unwrap();
    let online: Arc<dyn OnlineStore> = if redis {
        let url =
            std::env::var("LATHE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        match RedisOnlineStore::connect(&url, "lathe_test_agg").await {
            Ok(store) => Arc::new(store),
            Err(err) => return lathe_testkit::unavailable("Redis", &err.to_string()),
        }
    } else {
        Arc::new(
            EmbeddedOnlineStore::open(dir.path().join("online.redb"))
                .await
                .unwrap(),
        )
    };
    let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (logger, _queue, _) = logging::queue(logging::metrics());
    let values = FeatureValues::new(
        definitions,
        Materializations::new(db),
        objects.clone(),
        online.clone(),
        logger,
    );
    Some(Fixture {
        values,
        objects,
        online,
        project,
        _dir: dir,
    })
}

fn trips_batch(trips: &[Trip]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter_values(trips.iter().map(|t| t.0))) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from_iter_values(trips.iter().map(|t| t.1))
                    .with_timezone("UTC"),
            ),
        ),
        (
            "trip_id",
            Arc::new(Int64Array::from_iter(trips.iter().map(|t| t.2))),
        ),
        (
            "fare",
            Arc::new(Float64Array::from_iter(trips.iter().map(|t| t.3))),
        ),
        (
            "city",
            Arc::new(StringArray::from_iter(trips.iter().map(|t| t.4))),
        ),
    ])
    .unwrap()
}

async fn write_events(objects: &dyn ObjectStore, path: &str, trips: &[Trip]) {
    let bytes = crate::offline::write_parquet(&trips_batch(trips)).unwrap();
    objects.put(&Path::from(path), bytes.into()).await.unwrap();
}

fn push_request(project: &str, trips: &[Trip]) -> pb::PushRequest {
    let column = |name: &str, values: Vec<Value>| pb::EntityColumn {
        name: name.to_owned(),
        values: values.iter().map(value_to_proto).collect(),
    };
    pb::PushRequest {
        project: project.to_owned(),
        push_source: "trip_events".to_owned(),
        columns: vec![
            column("driver_id", trips.iter().map(|t| Value::Int64(t.0)).collect()),
            column(
                "event_timestamp",
                trips.iter().map(|t| Value::Timestamp(t.1)).collect(),
            ),
            column(
                "trip_id",
                trips
                    .iter()
                    .map(|t| t.2.map_or(Value::Null, Value::Int64))
                    .collect(),
            ),
            column(
                "fare",
                trips
                    .iter()
                    .map(|t| t.3.map_or(Value::Null, Value::Float64))
                    .collect(),
            ),
            column(
                "city",
                trips
                    .iter()
                    .map(|t| t.4.map_or(Value::Null, Value::from))
                    .collect(),
            ),
        ],
        to: pb::PushTarget::Online as i32,
    }
}

fn online_request(project: &str, view: &str, drivers: &[i64]) -> pb::GetOnlineFeaturesRequest {
    pb::GetOnlineFeaturesRequest {
        project: project.to_owned(),
        features: FEATURES.iter().map(|f| format!("{view}:{f}")).collect(),
        entities: vec![pb::EntityColumn {
            name: "driver_id".to_owned(),
            values: drivers
                .iter()
                .map(|d| value_to_proto(&Value::Int64(*d)))
                .collect(),
        }],
        ..Default::default()
    }
}

/// The reference view's training set for each driver at `time`.
async fn offline_at(f: &Fixture, drivers: &[i64], time: i64) -> RecordBatch {
    let entities = RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter_values(drivers.iter().copied())) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from_iter_values(drivers.iter().map(|_| time))
                    .with_timezone("UTC"),
            ),
        ),
    ])
    .unwrap();
    let answer = f
        .values
        .historical_features(pb::GetHistoricalFeaturesRequest {
            project: f.project.clone(),
            features: FEATURES
                .iter()
                .map(|feature| format!("reference:{feature}"))
                .collect(),
            entity_frame: crate::offline::write_parquet(&entities).unwrap().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(answer.parquet)
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// Asserts that the online answer equals the offline values, column by column (floats to a
/// relative 1e-9), entities the online store has no state for included (empty windows).
fn assert_equal(online: &pb::GetOnlineFeaturesResponse, offline: &RecordBatch, context: &str) {
    for feature in FEATURES {
        let column = online.columns.iter().find(|c| c.name == feature).unwrap();
        let expected = offline.column_by_name(feature).unwrap();
        for (row, value) in column.values.iter().enumerate() {
            let got = super::value_conversion::value_from_proto(value);
            let want = if expected.is_null(row) {
                Value::Null
            } else if feature.contains("count") {
                Value::Int64(expected.as_primitive::<Int64Type>().value(row))
            } else {
                Value::Float64(expected.as_primitive::<Float64Type>().value(row))
            };
            let same = match (&got, &want) {
                (Value::Float64(a), Value::Float64(b)) => {
                    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
                }
                (a, b) => a == b,
            };
            assert!(
                same,
                "{context}: {feature} row {row}: online {got:?}, offline {want:?}"
            );
        }
    }
}

/// A small xorshift generator: the cases come from proptest's seeds.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// Pushes random events (some late, some still to come, some with nulls) while the clock
/// moves, and after each push reads every driver online and offline at the present.
async fn pushes_and_reads_agree(f: &Fixture, seed: u64) {
    let mut random = Random(seed | 1);
    let drivers = [1, 2, 3, 4];
    let (mut now, mut applied, mut trip) = (T0, Vec::<Trip>::new(), 0);
    for step in 0..12 {
        now += random.below(40) * MINUTE + random.below(60) * 1_000_000;
        let mut batch = Vec::new();
        for _ in 0..random.below(25) {
            // From 3 hours ago (late past the 2 hours allowed) to 10 minutes ahead; often on a
            // minute edge.
            let mut time = now - 180 * MINUTE + random.below(190) * MINUTE;
            if random.below(2) == 0 {
                time += random.below(MINUTE as u64);
            }
            trip += 1;
            let fare = (random.below(10) > 0).then(|| random.below(10_000) as f64 / 100.0 - 20.0);
            let city = ["oslo", "rome", "lima", "pune"][random.below(4) as usize];
            let city = (random.below(10) > 0).then_some(city);
            let trip_id = (random.below(10) > 0).then_some(trip);
            batch.push((drivers[random.below(3) as usize], time, trip_id, fare, city));
        }
        let late: Vec<&Trip> = batch.iter().filter(|t| t.1 < now - 120 * MINUTE).collect();
        if !batch.is_empty() {
            let answer = f
                .values
                .push_at(push_request(&f.project, &batch), now)
                .await
                .unwrap();
            assert_eq!(answer.late_events, late.len() as u64, "step {step}: late events");
        }
        applied.extend(batch.iter().filter(|t| t.1 >= now - 120 * MINUTE).cloned());
        write_events(f.objects.as_ref(), "reference/events.parquet", &applied).await;
        // Read a little later than the push, sometimes exactly at it.
        let read_at = now + random.below(3) * 1_000_000;
        let online = f
            .values
            .online_features_at(online_request(&f.project, "trips", &drivers), read_at)
            .await
            .unwrap();
        let offline = offline_at(f, &drivers, read_at).await;
        assert_equal(&online, &offline, &format!("seed {seed} step {step}"));
        now = read_at;
    }
}

fn run_cases(redis: bool, cases: u32, body: fn(u64, bool)) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any::<u64>(), |seed| {
            body(seed, redis);
            Ok(())
        })
        .unwrap();
}

fn pushes_case(seed: u64, redis: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let Some(f) = fixture(redis).await else { return };
        pushes_and_reads_agree(&f, seed).await;
    });
}

#[test]
fn aggregated_online_reads_equal_offline_values_on_the_embedded_store() {
    run_cases(false, 16, pushes_case);
}

#[test]
fn aggregated_online_reads_equal_offline_values_on_redis() {
    run_cases(true, 16, pushes_case);
}

/// Materializes the file view as of `end`, then pushes nothing: online at times after `end`
/// equals offline over the file's events up to `end`; a second materialization further on
/// replaces the tiles rather than adding to them.
async fn materialization_agrees(f: &Fixture) {
    let mut trips: Vec<Trip> = Vec::new();
    for i in 0..400i64 {
        let time = T0 + (i * 7_919 % 2_880) * MINUTE + (i * 13 % 60) * 1_000_000;
        let city = ["oslo", "rome", "lima"][(i % 3) as usize];
        trips.push((
            1 + i % 3,
            time,
            Some(i),
            (i % 11 != 0).then(|| (i * 37 % 500) as f64 / 10.0),
            Some(city),
        ));
    }
    write_events(f.objects.as_ref(), "trips/part-0.parquet", &trips).await;
    let drivers = [1, 2, 3, 4];
    let mut previous = None;
    for end in [T0 + 1_500 * MINUTE, T0 + 1_500 * MINUTE, T0 + 2_000 * MINUTE + 17] {
        let request = pb::MaterializeRequest {
            project: f.project.clone(),
            feature_views: vec!["from_file".to_owned()],
            start: Some(prost_types::Timestamp::default()),
            end: Some(prost_types::Timestamp {
                seconds: end.div_euclid(1_000_000),
                nanos: (end.rem_euclid(1_000_000) * 1_000) as i32,
            }),
            incremental: false,
        };
        let answer = f.values.materialize_at(request, &|_| {}, end).await.unwrap();
        // The same interval again is skipped; a later end rebuilds the tiles.
        let expected = if previous == Some(end) { 0 } else { 3 };
        assert_eq!(
            answer.views[0].entities_written, expected,
            "three drivers have events"
        );
        previous = Some(end);
        let upto: Vec<Trip> = trips.iter().filter(|t| t.1 <= end).cloned().collect();
        write_events(f.objects.as_ref(), "reference/events.parquet", &upto).await;
        for read_at in [end, end + 3 * MINUTE] {
            let online = f
                .values
                .online_features_at(online_request(&f.project, "from_file", &drivers), read_at)
                .await
                .unwrap();
            let offline = offline_at(f, &drivers, read_at).await;
            assert_equal(
                &online,
                &offline,
                &format!("materialized to {end}, read at {read_at}"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_aggregates_equal_offline_values_on_both_stores() {
    for redis in [false, true] {
        if let Some(f) = fixture(redis).await {
            materialization_agrees(&f).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_cannot_be_aggregated_is_refused_whole() {
    let f = fixture(false).await.unwrap();
    let mut request = push_request(&f.project, &[(1, T0, Some(1), Some(2.0), Some("oslo"))]);
    request.columns[3].values[0] = value_to_proto(&Value::from("cheap"));
    let err = f.values.push_at(request, T0).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unprocessable);
    assert!(
        err.message.contains("'fare'") && err.message.contains("needs a number"),
        "{}",
        err.message
    );
    let online = f
        .values
        .online_features_at(online_request(&f.project, "trips", &[1]), T0)
        .await
        .unwrap();
    assert_eq!(
        online.columns[1].statuses[0],
        pb::FeatureStatus::NotFound as i32,
        "nothing was applied"
    );
    let err = f
        .values
        .read_feature_view(pb::ReadFeatureViewRequest {
            project: f.project.clone(),
            feature_view: "trips".to_owned(),
            start: Some(prost_types::Timestamp::default()),
            end: Some(prost_types::Timestamp {
                seconds: 10,
                nanos: 0,
            }),
            features: Vec::new(),
        })
        .await
        .unwrap_err();
    assert!(err.message.contains("is aggregated"), "{}", err.message);
}
