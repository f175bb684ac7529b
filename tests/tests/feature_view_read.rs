//! `FeatureService/ReadFeatureView` over gRPC, on the embedded stores and on PostgreSQL + S3 +
//! Redis: a view's source rows in `[start, end)`, as Parquet with the join keys, the event
//! timestamp and the features asked for; and how it refuses.

use std::sync::Arc;

use arrow::array::{Array, Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_common::storage;
use lathe_contract::features::v1 as pb;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_tests::{Backend, GrpcChannel, TestPlatform, TokenRole, read_parquet};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::json;

const PROJECT: &str = "reads";
const HOUR: i64 = 3_600_000_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000_000;

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_stats_source
    file: {path: data/driver_stats}
    created_timestamp_field: created
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_stats_source
    ttl: 2h
    schema:
      - {name: conv_rate, type: float32}
      - {name: trips, type: int64}
"#;

/// Drivers 1001..=1003, one row per hour of `hours`; conv_rate = hour + driver/10000, trips =
/// 10 × hour + driver % 10.
fn source_parquet(hours: std::ops::Range<i64>) -> Vec<u8> {
    let (mut drivers, mut times, mut rates, mut trips) = (vec![], vec![], vec![], vec![]);
    for hour in hours {
        for driver in 1001..=1003i64 {
            drivers.push(driver);
            times.push(T0 + hour * HOUR);
            rates.push(hour as f32 + driver as f32 / 10_000.0);
            trips.push(hour * 10 + driver % 10);
        }
    }
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("driver_id", DataType::Int64, false),
        Field::new("event_timestamp", ts(), false),
        Field::new("created", ts(), false),
        Field::new("conv_rate", DataType::Float32, true),
        Field::new("trips", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(drivers)),
            Arc::new(TimestampMicrosecondArray::from(times.clone()).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
            Arc::new(Float32Array::from(rates)),
            Arc::new(Int64Array::from(trips)),
        ],
    )
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

/// The source as two files under the view's prefix: hours 0..3, then 3..5.
async fn put_source(t: &TestPlatform) {
    let settings = &t.settings.features.service.object_store;
    let url = storage::resolve_url(settings, &t.settings.common.data_dir, "features").unwrap();
    let store = storage::open(&url, settings, "features.object_store").unwrap();
    for (name, hours) in [("part-0.parquet", 0..3), ("part-1.parquet", 3..5)] {
        let path = Path::from(format!("data/driver_stats/{name}"));
        store.put(&path, source_parquet(hours).into()).await.unwrap();
    }
}

async fn apply_repository(t: &TestPlatform) {
    let body = json!({ "files": [{ "path": "features.yaml", "content": REPO }] });
    let response = t
        .post(
            &format!("/api/v1/projects/{PROJECT}/features/apply"),
            &t.admin(),
            &body,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// `us` microseconds after the epoch, as the contract's timestamp (converted from a
/// `SystemTime`, so this crate needs no prost-types of its own).
fn at(us: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_micros(u64::try_from(us).unwrap())
}

fn request(view: &str, start_hour: i64, end_hour: i64, features: &[&str]) -> pb::ReadFeatureViewRequest {
    pb::ReadFeatureViewRequest {
        project: PROJECT.to_owned(),
        feature_view: view.to_owned(),
        start: Some(at(T0 + start_hour * HOUR).into()),
        end: Some(at(T0 + end_hour * HOUR).into()),
        features: features.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn int64s(batch: &RecordBatch, column: &str) -> Vec<i64> {
    let column = batch.column_by_name(column).unwrap();
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

fn refusal(status: tonic::Status) -> (tonic::Code, String, String) {
    let code = status.code();
    let err = lathe_common::Error::from(status);
    (code, err.reason.into_owned(), err.message)
}

async fn reads(t: &TestPlatform) {
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let mut features = FeatureServiceClient::new(t.grpc_channel("features", &viewer).await);

    // [T0+1h, T0+4h): hours 1 and 2 from the first file, 3 from the second; 4 is the end.
    let answer = features
        .read_feature_view(request("driver_stats", 1, 4, &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.rows, 9);
    assert_eq!(
        answer.columns,
        ["driver_id", "event_timestamp", "conv_rate", "trips"],
        "join keys, the event timestamp, then every feature; no created timestamp"
    );
    let rows = read_parquet(&answer.parquet);
    assert_eq!(rows.num_rows(), 9);
    assert_eq!(int64s(&rows, "driver_id"), [1001, 1002, 1003].repeat(3));
    assert_eq!(int64s(&rows, "trips"), [11, 12, 13, 21, 22, 23, 31, 32, 33]);
    let times = rows
        .column_by_name("event_timestamp")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert!(
        times
            .values()
            .iter()
            .all(|&us| (T0 + HOUR..T0 + 4 * HOUR).contains(&us))
    );
    let rates = rows.column_by_name("conv_rate").unwrap();
    let rates = rates.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(rates.value(0), 1.0 + 1001.0 / 10_000.0);

    // Chosen features, in the order asked.
    let answer = features
        .read_feature_view(request("driver_stats", 0, 1, &["trips"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.columns, ["driver_id", "event_timestamp", "trips"]);
    assert_eq!(int64s(&read_parquet(&answer.parquet), "trips"), [1, 2, 3]);

    // A range with no rows: the columns, no rows.
    let answer = features
        .read_feature_view(request("driver_stats", 100, 101, &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.rows, 0);
    assert_eq!(answer.columns.len(), 4);
    assert_eq!(read_parquet(&answer.parquet).num_rows(), 0);

    // Refusals.
    let err = features
        .read_feature_view(request("driver_stats", 0, 1, &["trips", "tips"]))
        .await
        .unwrap_err();
    let (code, _, message) = refusal(err);
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(message.contains("'tips'"), "{message}");

    let err = features
        .read_feature_view(request("rider_stats", 0, 1, &[]))
        .await
        .unwrap_err();
    let (code, reason, message) = refusal(err);
    assert_eq!(
        (code, reason.as_str()),
        (tonic::Code::NotFound, "feature_view_not_found"),
        "{message}"
    );
    assert!(message.contains("rider_stats"), "{message}");

    for (start, end) in [(2, 2), (3, 1)] {
        let err = features
            .read_feature_view(request("driver_stats", start, end, &[]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "[{start}, {end})");
    }
    let mut no_end = request("driver_stats", 0, 1, &[]);
    no_end.end = None;
    let err = features.read_feature_view(no_end).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // A project that does not exist says so (to a caller who may see every project).
    let mut admin = FeatureServiceClient::new(t.grpc_channel("features", &t.admin()).await);
    let mut elsewhere = request("driver_stats", 0, 1, &[]);
    elsewhere.project = "nowhere".to_owned();
    let (code, reason, _) = refusal(admin.read_feature_view(elsewhere).await.unwrap_err());
    assert_eq!(
        (code, reason.as_str()),
        (tonic::Code::NotFound, "project_not_found")
    );

    // Viewers of another project may not read this one.
    let outsider: GrpcChannel = t
        .grpc_channel("features", &t.token(TokenRole::Viewer, &["other"]))
        .await;
    let err = FeatureServiceClient::new(outsider)
        .read_feature_view(request("driver_stats", 0, 1, &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
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
    put_source(&t).await;
    apply_repository(&t).await;
    reads(&t).await;
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn feature_view_rows_on_embedded_stores() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn feature_view_rows_on_postgres_s3_and_redis() {
    scenario(Backend::Production).await;
}
