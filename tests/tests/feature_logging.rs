//! Feature logging end to end, on the embedded stores and on PostgreSQL + S3 + Redis: a feature
//! service with `logging: {monitor, sample_rate: 1}` sends every row it serves online to the
//! monitor, where a window check counts them; then the monitor's reference is set from the
//! feature view over a time range (the feature-service's `ReadFeatureView`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_common::storage;
use lathe_contract::monitor::v1 as monitor;
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_tests::{Backend, TestPlatform};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};

const PROJECT: &str = "logged";
const MONITOR: &str = "activity-drift";
const HOUR: i64 = 3_600_000_000;
/// Online reads through the logged service, of three drivers each.
const READS: u64 = 5;
const DRIVERS: [i64; 3] = [1001, 1002, 1003];

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_stats_source
    file: {path: data/driver_stats.parquet}
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_stats_source
    ttl: 1d
    schema:
      - {name: conv_rate, type: float32}
      - {name: trips, type: int64}
feature_services:
  - name: driver_activity
    features: [driver_stats:conv_rate, driver_stats:trips]
    logging: {monitor: activity-drift, sample_rate: 1}
"#;

/// The start of the hour two hours ago: the source's rows lie in the two hours since.
fn t0() -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    now - now.rem_euclid(HOUR) - 2 * HOUR
}

fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The three drivers at T0 and T0+1h.
fn source() -> Vec<u8> {
    let (mut drivers, mut times, mut rates, mut trips) = (vec![], vec![], vec![], vec![]);
    for hour in 0..2i64 {
        for driver in DRIVERS {
            drivers.push(driver);
            times.push(t0() + hour * HOUR);
            rates.push(0.1 * (driver % 10) as f32 + hour as f32);
            trips.push(driver % 10 + 10 * hour);
        }
    }
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("driver_id", DataType::Int64, false),
            Field::new("event_timestamp", ts, false),
            Field::new("conv_rate", DataType::Float32, true),
            Field::new("trips", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(drivers)),
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
            Arc::new(Float32Array::from(rates)),
            Arc::new(Int64Array::from(trips)),
        ],
    )
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

/// A reference sample of the two logged features.
fn reference() -> Vec<u8> {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("conv_rate", DataType::Float32, true),
            Field::new("trips", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Float32Array::from_iter_values(
                (0..200).map(|i| (i % 10) as f32 / 10.0),
            )),
            Arc::new(Int64Array::from_iter_values((0..200).map(|i| i % 20))),
        ],
    )
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

async fn set_up_features(t: &TestPlatform) {
    let settings = &t.settings.features.service.object_store;
    let url = storage::resolve_url(settings, &t.settings.common.data_dir, "features").unwrap();
    let store = storage::open(&url, settings, "features.object_store").unwrap();
    store
        .put(&Path::from("data/driver_stats.parquet"), source().into())
        .await
        .unwrap();
    let body = json!({ "files": [{ "path": "features.yaml", "content": REPO }] });
    let applied = t
        .post(
            &format!("/api/v1/projects/{PROJECT}/features/apply"),
            &t.admin(),
            &body,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        applied.status(),
        200,
        "{}",
        applied.text().await.unwrap_or_default()
    );
    let window = json!({ "start": iso(t0()), "end": iso(t0() + 2 * HOUR) });
    let materialized: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/materialize"),
            &t.admin(),
            &window,
        )
        .await;
    assert_eq!(materialized["views"][0]["entities_written"], 3, "{materialized}");
}

async fn create_monitor(monitors: &mut MonitorServiceClient<lathe_tests::GrpcChannel>) {
    let check = |column: &str| monitor::FeatureCheck {
        column: column.to_owned(),
        metric: monitor::DriftMetric::Psi as i32,
        threshold: 0.1,
    };
    monitors
        .put_monitor(monitor::PutMonitorRequest {
            project: PROJECT.to_owned(),
            name: MONITOR.to_owned(),
            checks: vec![check("conv_rate"), check("trips")],
            window_seconds: 3600,
            // Checked on demand only.
            paused: true,
            ..Default::default()
        })
        .await
        .expect("PutMonitor");
    monitors
        .set_reference(monitor::SetReferenceRequest {
            project: PROJECT.to_owned(),
            monitor: MONITOR.to_owned(),
            source: Some(monitor::set_reference_request::Source::Parquet(
                reference().into(),
            )),
        })
        .await
        .expect("SetReference");
}

/// Rows the monitor holds in the windows of `instants` (each window counted once).
async fn logged_rows(
    monitors: &mut MonitorServiceClient<lathe_tests::GrpcChannel>,
    instants: &[SystemTime],
) -> u64 {
    let mut seen = Vec::new();
    let mut rows = 0;
    for instant in instants {
        let checked = monitors
            .check_window(monitor::CheckWindowRequest {
                project: PROJECT.to_owned(),
                monitor: MONITOR.to_owned(),
                window: Some((*instant).into()),
            })
            .await;
        let Ok(result) = checked.map(tonic::Response::into_inner) else {
            continue;
        };
        let start = result.window_start.map(|t| (t.seconds, t.nanos));
        if !seen.contains(&start) {
            seen.push(start);
            rows += result.rows;
        }
    }
    rows
}

async fn scenario(backend: Backend) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("error")
        .with_test_writer()
        .try_init();
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    set_up_features(&t).await;
    let mut monitors = MonitorServiceClient::new(t.grpc_channel("monitor", &t.admin()).await);
    create_monitor(&mut monitors).await;

    // A viewer reads online through the service: the logging is none of its business.
    let viewer = t.token(lathe_tests::TokenRole::Viewer, &[PROJECT]);
    let body = json!({ "feature_service": "driver_activity", "entities": { "driver_id": DRIVERS } });
    let first_read = SystemTime::now();
    for _ in 0..READS {
        let answer: Value = t
            .post_json(
                &format!("/api/v1/projects/{PROJECT}/features/online"),
                &viewer,
                &body,
            )
            .await;
        assert_eq!(
            answer["metadata"]["feature_names"],
            json!(["driver_id", "conv_rate", "trips"]),
            "{answer}"
        );
        assert_eq!(answer["results"][2]["statuses"][0], "PRESENT", "{answer}");
    }
    let last_read = SystemTime::now();

    // Batches go out every second; wait (bounded) until all rows are in the monitor's window.
    let expected = READS * DRIVERS.len() as u64;
    let mut rows = 0;
    for _ in 0..60 {
        rows = logged_rows(&mut monitors, &[first_read, last_read]).await;
        if rows >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(rows, expected, "every served row is logged once at sample rate 1");

    // The reference from the feature view itself, over the source's two hours, through REST.
    let range =
        json!({"feature_view": {"name": "driver_stats", "start": iso(t0()), "end": iso(t0() + 2 * HOUR)}});
    let reference: Value = t
        .put(
            &format!("/api/v1/projects/{PROJECT}/monitors/{MONITOR}/reference"),
            &t.admin(),
            &range,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reference["rows"], 6, "{reference}");
    let columns: Vec<&str> = reference["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        columns.contains(&"conv_rate") && columns.contains(&"trips"),
        "{reference}"
    );
    assert!(
        reference["source"]
            .as_str()
            .unwrap()
            .starts_with("feature view driver_stats"),
        "{reference}"
    );
    // Half the range holds the first hour's three rows.
    let first_hour =
        json!({"feature_view": {"name": "driver_stats", "start": iso(t0()), "end": iso(t0() + HOUR)}});
    let reference: Value = t
        .put(
            &format!("/api/v1/projects/{PROJECT}/monitors/{MONITOR}/reference"),
            &t.admin(),
            &first_hour,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reference["rows"], 3, "{reference}");
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn served_rows_reach_the_monitor_on_embedded_stores() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn served_rows_reach_the_monitor_on_postgres_s3_and_redis() {
    scenario(Backend::Production).await;
}
