//! Feature values against real stores in a temporary directory (SQLite definitions, an
//! in-memory object store, the embedded online store): reading a view's rows, the rows an
//! online read through a logged feature service queues for the monitor, and the
//! materialization state of views.

use std::sync::Arc;

use arrow::array::{
    Array, Float64Array, Int64Array, RecordBatch, RecordBatchReader, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_common::config::DatabaseSettings;
use lathe_common::{ErrorCode, reasons};
use lathe_contract::features::v1 as pb;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sea_orm_migration::MigratorTrait;
use tokio::sync::mpsc;

use super::FeatureValues;
use crate::definitions::plan::plan;
use crate::definitions::repository::load;
use crate::logging::{self, LoggingMetrics, SampledRows};
use crate::online::{EmbeddedOnlineStore, EntityKey, FeatureRow, OnlineStore, Value};
use crate::store::definitions::DefinitionStore;
use crate::store::materializations::Materializations;

const HOUR: i64 = 3_600_000_000;

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: stats_source
    file: {path: data/stats.parquet}
    created_timestamp_field: created
feature_views:
  - name: stats
    entities: [driver]
    source: stats_source
    schema: [{name: rate, type: float64}, {name: trips, type: int64}]
  - name: hourly
    entities: [driver]
    source: stats_source
    ttl: 2h
    schema: [{name: rate, type: float64}]
feature_services:
  - name: logged
    features: [stats:rate, stats:trips]
    logging: {monitor: drift, sample_rate: 1}
  - name: quiet
    features: [stats:rate]
"#;

struct Fixture {
    values: FeatureValues,
    queue: mpsc::Receiver<SampledRows>,
    metrics: LoggingMetrics,
    _dir: tempfile::TempDir,
}

/// Drivers 1 and 2, one row an hour for hours 0..4; rate = hour + driver / 10, trips = 10 × hour + driver.
fn source() -> Vec<u8> {
    let (mut drivers, mut times, mut rates, mut trips) = (vec![], vec![], vec![], vec![]);
    for hour in 0..4i64 {
        for driver in 1..=2i64 {
            drivers.push(driver);
            times.push(hour * HOUR);
            rates.push(hour as f64 + driver as f64 / 10.0);
            trips.push(10 * hour + driver);
        }
    }
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("driver_id", DataType::Int64, false),
            Field::new("event_timestamp", micros.clone(), false),
            Field::new("created", micros, false),
            Field::new("rate", DataType::Float64, true),
            Field::new("trips", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(drivers)),
            Arc::new(TimestampMicrosecondArray::from(times.clone())),
            Arc::new(TimestampMicrosecondArray::from(times)),
            Arc::new(Float64Array::from(rates)),
            Arc::new(Int64Array::from(trips)),
        ],
    )
    .unwrap();
    crate::offline::write_parquet(&batch).unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/features.db", dir.path().display());
    let db = lathe_common::db::connect(&url, &DatabaseSettings::default(), "test.database")
        .await
        .unwrap();
    crate::store::migration::Migrator::up(&db, None).await.unwrap();
    let definitions = DefinitionStore::new(db.clone());
    let repo = load("p", &[("features.yaml".into(), REPO.into())]).unwrap();
    let changes = plan(&repo, &definitions.list("p", None).await.unwrap()).unwrap();
    definitions.apply("p", &changes, "tester").await.unwrap();
    let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    objects
        .put(&Path::from("data/stats.parquet"), source().into())
        .await
        .unwrap();
    let online = EmbeddedOnlineStore::open(dir.path().join("online.redb"))
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    let rows = (1..=2i64)
        .map(|driver| {
            let key = EntityKey::new([("driver_id", Value::Int64(driver))]).unwrap();
            let row = FeatureRow {
                event_ts_us: now,
                created_ts_us: None,
                values: vec![
                    ("rate".to_owned(), Value::Float64(driver as f64 / 10.0)),
                    ("trips".to_owned(), Value::Int64(driver)),
                ],
            };
            (key, row)
        })
        .collect();
    online.write("p", "stats", rows).await.unwrap();
    let metrics = logging::metrics();
    let (logger, queue, _) = logging::queue(metrics.clone());
    let values = FeatureValues::new(
        definitions,
        Materializations::new(db),
        objects,
        Arc::new(online),
        logger,
    );
    Fixture {
        values,
        queue,
        metrics,
        _dir: dir,
    }
}

fn timestamp(us: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    })
}

fn read(view: &str, start_hour: i64, end_hour: i64, features: &[&str]) -> pb::ReadFeatureViewRequest {
    pb::ReadFeatureViewRequest {
        project: "p".to_owned(),
        feature_view: view.to_owned(),
        start: timestamp(start_hour * HOUR),
        end: timestamp(end_hour * HOUR),
        features: features.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn parquet_rows(bytes: &[u8]) -> RecordBatch {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

#[tokio::test]
async fn a_views_rows_in_a_range_come_with_keys_time_and_features() {
    let f = fixture().await;
    let answer = f
        .values
        .read_feature_view(read("stats", 1, 3, &[]))
        .await
        .unwrap();
    assert_eq!(answer.columns, ["driver_id", "event_timestamp", "rate", "trips"]);
    assert_eq!(answer.rows, 4, "hours 1 and 2 of two drivers; hour 3 is the end");
    let rows = parquet_rows(&answer.parquet);
    let trips = rows.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(trips.values().to_vec(), [11, 12, 21, 22]);

    let answer = f
        .values
        .read_feature_view(read("stats", 0, 1, &["trips"]))
        .await
        .unwrap();
    assert_eq!(answer.columns, ["driver_id", "event_timestamp", "trips"]);
    assert_eq!(parquet_rows(&answer.parquet).num_rows(), 2);
}

#[tokio::test]
async fn bad_reads_are_refused_with_what_is_wrong() {
    let f = fixture().await;
    let err = f
        .values
        .read_feature_view(read("stats", 0, 1, &["rate", "tips"]))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.contains("'tips'"), "{}", err.message);

    let err = f
        .values
        .read_feature_view(read("rides", 0, 1, &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert_eq!(err.reason, reasons::FEATURE_VIEW_NOT_FOUND.name);
    assert!(err.message.contains("'rides'"), "{}", err.message);

    for (start, end) in [(1, 1), (2, 1)] {
        let err = f
            .values
            .read_feature_view(read("stats", start, end, &[]))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "[{start}, {end})");
    }
    let mut open = read("stats", 0, 1, &[]);
    open.start = None;
    let err = f.values.read_feature_view(open).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

fn online(service: &str, features: &[&str], drivers: &[i64]) -> pb::GetOnlineFeaturesRequest {
    pb::GetOnlineFeaturesRequest {
        project: "p".to_owned(),
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        feature_service: service.to_owned(),
        entities: vec![pb::EntityColumn {
            name: "driver_id".to_owned(),
            values: drivers
                .iter()
                .map(|d| pb::Value {
                    kind: Some(pb::value::Kind::Int64Value(*d)),
                })
                .collect(),
        }],
        full_feature_names: false,
    }
}

#[tokio::test]
async fn reads_through_a_logged_service_queue_their_rows_for_the_monitor() {
    let mut f = fixture().await;
    f.values
        .online_features(online("logged", &[], &[1, 2, 3]))
        .await
        .unwrap();
    let sampled = f.queue.try_recv().expect("the read's rows are queued");
    assert_eq!(
        (sampled.project.as_str(), sampled.monitor.as_str()),
        ("p", "drift")
    );
    let rows: Vec<(serde_json::Value, serde_json::Value)> = sampled
        .rows
        .iter()
        .map(|r| (r["rate"].clone(), r["trips"].clone()))
        .collect();
    assert_eq!(
        rows,
        [
            (serde_json::json!(0.1), serde_json::json!(1)),
            (serde_json::json!(0.2), serde_json::json!(2)),
            (serde_json::Value::Null, serde_json::Value::Null),
        ],
        "every row at rate 1, an unknown entity's values as null"
    );
    for row in &sampled.rows {
        let object = row.as_object().unwrap();
        assert_eq!(
            object.len(),
            3,
            "the features and the timestamp, no join key: {row}"
        );
        let at = object["timestamp"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(at).unwrap();
    }

    // A service without logging, and references, log nothing.
    f.values
        .online_features(online("quiet", &[], &[1]))
        .await
        .unwrap();
    f.values
        .online_features(online("", &["stats:rate"], &[1]))
        .await
        .unwrap();
    assert!(f.queue.try_recv().is_err());
    assert_eq!(f.metrics.dropped.with_label_values(&["p", "drift"]).get(), 0);
}

fn materialize(views: &[&str], start_hour: i64, end_hour: i64) -> pb::MaterializeRequest {
    pb::MaterializeRequest {
        project: "p".to_owned(),
        feature_views: views.iter().map(|v| (*v).to_owned()).collect(),
        start: timestamp(start_hour * HOUR),
        end: timestamp(end_hour * HOUR),
        incremental: false,
    }
}

fn states(views: &[&str]) -> pb::ListMaterializationsRequest {
    pb::ListMaterializationsRequest {
        project: "p".to_owned(),
        feature_views: views.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn at_hour(hours: f64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros((hours * HOUR as f64) as i64).unwrap()
}

#[tokio::test]
async fn a_views_state_is_its_last_run_and_freshness_is_behind_the_latest_end() {
    let f = fixture().await;
    let before = f
        .values
        .materialization_states_at(states(&[]), at_hour(1.0))
        .await
        .unwrap();
    let never: Vec<_> = before
        .views
        .iter()
        .map(|v| {
            (
                v.feature_view.as_str(),
                v.ttl_seconds,
                v.last_end.is_none() && v.last_run_time.is_none() && v.entities_written.is_none(),
                v.freshness_seconds,
                v.stale,
            )
        })
        .collect();
    assert_eq!(
        never,
        [
            ("hourly", 7200, true, None, false),
            ("stats", 0, true, None, false)
        ],
        "every view, by name, never materialized"
    );

    let ignore = |_: pb::MaterializeProgress| {};
    let done = f
        .values
        .materialize_at(materialize(&["hourly"], 2, 3), &ignore, 3 * HOUR)
        .await
        .unwrap();
    let written = &done.views[0];
    let fresh = f
        .values
        .materialization_states_at(states(&["hourly"]), at_hour(4.5))
        .await
        .unwrap();
    let [hourly] = fresh.views.as_slice() else {
        panic!("one view asked, one answered: {fresh:?}")
    };
    assert_eq!(
        (
            hourly.last_start,
            hourly.last_end,
            hourly.rows_scanned,
            hourly.entities_written,
        ),
        (
            timestamp(2 * HOUR),
            timestamp(3 * HOUR),
            Some(written.rows_scanned),
            Some(written.entities_written),
        ),
        "the counts the run answered with"
    );
    assert_eq!(written.entities_written, 2);
    assert!(hourly.last_run_time.is_some());
    assert_eq!(
        (hourly.freshness_seconds, hourly.stale),
        (Some(5400), false),
        "90 minutes behind, inside the 2h ttl"
    );
    let late = f
        .values
        .materialization_states_at(states(&["hourly", "stats"]), at_hour(5.5))
        .await
        .unwrap();
    assert_eq!(
        late.views
            .iter()
            .map(|v| (v.feature_view.as_str(), v.freshness_seconds, v.stale))
            .collect::<Vec<_>>(),
        [("hourly", Some(9000), true), ("stats", None, false)]
    );

    // A backfill of an older interval is the last run, but the online store is no further
    // behind than before.
    f.values
        .materialize_at(materialize(&["hourly"], 0, 1), &ignore, 3 * HOUR)
        .await
        .unwrap();
    let backfilled = f
        .values
        .materialization_states_at(states(&["hourly"]), at_hour(4.5))
        .await
        .unwrap();
    let hourly = &backfilled.views[0];
    assert_eq!(
        (
            hourly.last_end,
            hourly.materialized_until,
            hourly.freshness_seconds
        ),
        (timestamp(HOUR), timestamp(3 * HOUR), Some(5400))
    );
    // A run that finds everything done writes nothing and is not the last run.
    f.values
        .materialize_at(materialize(&["hourly"], 2, 3), &ignore, 3 * HOUR)
        .await
        .unwrap();
    let again = f
        .values
        .materialization_states_at(states(&["hourly"]), at_hour(4.5))
        .await
        .unwrap();
    assert_eq!(again.views[0].last_end, timestamp(HOUR));

    let err = f
        .values
        .materialization_states_at(states(&["hourly", "nope"]), at_hour(4.5))
        .await
        .unwrap_err();
    assert_eq!(err.reason, reasons::FEATURE_VIEW_NOT_FOUND.name);
    assert!(err.message.contains("'nope'"), "{}", err.message);
}
