//! Files into a source's folder over REST, on the embedded stores and on PostgreSQL + S3: a
//! CSV or Parquet file checked against every view that reads the source, written only when it
//! fits, then read by training sets like any other file of the source.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type};
use futures::TryStreamExt;
use lathe_common::storage;
use lathe_tests::{Backend, TestPlatform, error_of, read_parquet};
use object_store::ObjectStore;
use object_store::path::Path;
use serde_json::{Value, json};

const PROJECT: &str = "ingest";

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: stats
    file: {path: data/stats/}
  - name: trips
    file: {path: data/trips/}
  - name: trip_events
    push: {batch_source: trips}
  - name: single
    file: {path: data/one.parquet}
feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats
    schema: [{name: conv_rate, type: float64}, {name: trips, type: int64}]
  - name: driver_trips
    entities: [driver]
    source: trip_events
    aggregations:
      - {column: fare, function: sum, window: 1h}
  - name: one
    entities: [driver]
    source: single
    schema: [{name: x, type: float64}]
"#;

fn objects(t: &TestPlatform) -> Arc<dyn ObjectStore> {
    let settings = &t.settings.features.service.object_store;
    let url = storage::resolve_url(settings, &t.settings.common.data_dir, "features").unwrap();
    storage::open(&url, settings, "features.object_store").unwrap()
}

async fn files_under(t: &TestPlatform, prefix: &str) -> usize {
    let listed: Vec<_> = objects(t)
        .list(Some(&Path::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    listed.len()
}

async fn ingest(t: &TestPlatform, source: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    t.http
        .post(format!(
            "{}/api/v1/projects/{PROJECT}/features/sources/{source}/ingest",
            t.url
        ))
        .bearer_auth(t.admin())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn training_set(t: &TestPlatform, features: &str, time: &str) -> RecordBatch {
    let csv = format!("driver_id,event_timestamp\n1,{time}\n2,{time}\n");
    let response = t
        .historical_csv(PROJECT, &format!("features={features}"), csv)
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    read_parquet(&response.bytes().await.unwrap())
}

async fn scenario(t: &TestPlatform) {
    t.create_project(PROJECT).await;
    let applied: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/apply"),
            &t.admin(),
            &json!({ "files": [{ "path": "f.yaml", "content": REPO }] }),
        )
        .await;
    assert_eq!(applied["applied"], true, "{applied}");

    // A CSV whose rate is not a number, one without the trips column: 422 naming the column,
    // and nothing written.
    let bad_value = "driver_id,event_timestamp,conv_rate,trips\n1,2026-01-01T00:00:00Z,high,3\n";
    let (status, code, message) = error_of(ingest(t, "stats", "text/csv", bad_value.into()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (422, "ingest_schema_mismatch"),
        "{message}"
    );
    assert!(
        message.starts_with("column 'conv_rate': ") && message.contains("high"),
        "{message}"
    );
    let missing = "driver_id,event_timestamp,conv_rate\n1,2026-01-01T00:00:00Z,0.5\n";
    let (status, _, message) = error_of(ingest(t, "stats", "text/csv", missing.into()).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("column 'trips' is missing: feature view 'driver_stats' (a int64 feature)"),
        "{message}"
    );
    assert_eq!(files_under(t, "data/stats").await, 0, "nothing was written");

    // A good CSV lands as Parquet and serves training sets.
    let good = "driver_id,event_timestamp,conv_rate,trips,note\n1,2026-01-01T00:00:00Z,0.5,3,first\n2,2026-01-01T00:30:00Z,0.25,7,\n";
    let response = ingest(t, "stats", "text/csv", good.into()).await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["rows"], 2, "{answer}");
    assert_eq!(answer["feature_views"], json!(["driver_stats"]), "{answer}");
    assert!(
        answer["path"]
            .as_str()
            .unwrap()
            .starts_with("data/stats/ingested-"),
        "{answer}"
    );
    assert_eq!(files_under(t, "data/stats").await, 1);
    let frame = training_set(
        t,
        "driver_stats:conv_rate,driver_stats:trips",
        "2026-01-01T01:00:00Z",
    )
    .await;
    let rates = frame
        .column_by_name("conv_rate")
        .unwrap()
        .as_primitive::<Float64Type>();
    let trips = frame.column_by_name("trips").unwrap().as_primitive::<Int64Type>();
    assert_eq!((rates.value(0), rates.value(1)), (0.5, 0.25));
    assert_eq!((trips.value(0), trips.value(1)), (3, 7));

    // Parquet into the batch source of an aggregated view: checked against its aggregation.
    let trips_file = |fares: Arc<dyn Array>| {
        let batch = RecordBatch::try_from_iter([
            (
                "driver_id",
                Arc::new(Int64Array::from(vec![1, 1, 2])) as Arc<dyn Array>,
            ),
            (
                "event_timestamp",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        1_767_225_600_000_000,
                        1_767_227_400_000_000,
                        1_767_227_400_000_000,
                    ])
                    .with_timezone("UTC"),
                ),
            ),
            ("fare", fares),
        ])
        .unwrap();
        lathe_tests::parquet_bytes(&batch)
    };
    let words: Arc<dyn Array> = Arc::new(StringArray::from(vec!["a", "b", "c"]));
    let (status, _, message) =
        error_of(ingest(t, "trips", "application/vnd.apache.parquet", trips_file(words)).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("column 'fare' is Utf8; its aggregations need numbers, as feature view 'driver_trips' (fare_sum_1h)"),
        "{message}"
    );
    let fares: Arc<dyn Array> = Arc::new(Float64Array::from(vec![10.0, 2.5, 4.0]));
    let response = ingest(t, "trips", "application/vnd.apache.parquet", trips_file(fares)).await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["feature_views"], json!(["driver_trips"]), "{answer}");
    let frame = training_set(t, "driver_trips:fare_sum_1h", "2026-01-01T00:45:00Z").await;
    let sums = frame
        .column_by_name("fare_sum_1h")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!((sums.value(0), sums.value(1)), (12.5, 4.0));

    // Where a file cannot go.
    let (status, code, _) = error_of(ingest(t, "nope", "text/csv", good.into()).await).await;
    assert_eq!((status, code.as_str()), (404, "data_source_not_found"));
    for (source, expected) in [("single", "is one file"), ("trip_events", "is a push source")] {
        let (status, _, message) = error_of(ingest(t, source, "text/csv", good.into()).await).await;
        assert_eq!(status, 412, "{message}");
        assert!(message.contains(expected), "{message}");
    }
    // A viewer may not write.
    let viewer = t.token(lathe_tests::TokenRole::Viewer, &["*"]);
    let response = t
        .http
        .post(format!(
            "{}/api/v1/projects/{PROJECT}/features/sources/stats/ingest",
            t.url
        ))
        .bearer_auth(viewer)
        .header("content-type", "text/csv")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn ingest_on_embedded_stores() {
    let t = TestPlatform::embedded().await;
    scenario(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn ingest_on_postgres_s3_and_redis() {
    let Some((t, pg)) = TestPlatform::on(Backend::Production).await else {
        return;
    };
    scenario(&t).await;
    t.shutdown().await;
    drop(pg);
}
