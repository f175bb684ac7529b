//! Window aggregations end to end, on the embedded stores and on PostgreSQL + S3 + Redis:
//! declared in the YAML repository and applied over REST; training sets over REST and gRPC
//! checked against aggregates computed here by hand; materialized and pushed; online reads
//! equal to the training-set values at the same time; late events counted.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use lathe_common::storage;
use lathe_contract::features::v1 as pb;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_tests::{Backend, TestPlatform, error_of, read_parquet};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};

const PROJECT: &str = "trips";
const MINUTE: i64 = 60_000_000;
const FEATURES: [&str; 4] = [
    "driver_trips:fare_sum_1h",
    "driver_trips:trip_id_count_1d",
    "driver_trips:fare_mean_1d",
    "driver_trips:fare_max_1d",
];

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: trip_events
    push: {batch_source: trips_file}
  - name: trips_file
    file: {path: data/trips/}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trip_events
    aggregations:
      - {column: fare, function: sum, window: 1h}
      - {column: trip_id, function: count, window: 1d}
      - {column: fare, function: mean, window: 1d}
      - {column: fare, function: max, window: 1d}
"#;

/// Events of drivers 1..=3 every 7 minutes from 14 minutes to about 20 hours ago: none within
/// a minute of the 1 h window's start or near the 1 d window's, so the answers stay the same
/// for the few seconds the test takes.
fn events(now: i64) -> Vec<(i64, i64, i64, Option<f64>)> {
    (2..170i64)
        .map(|k| {
            let driver = 1 + k % 3;
            let fare = (k % 5 != 0).then(|| (k * 37 % 500) as f64 / 10.0);
            (driver, now - k * 7 * MINUTE, k, fare)
        })
        .collect()
}

fn events_parquet(events: &[(i64, i64, i64, Option<f64>)]) -> Vec<u8> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("driver_id", DataType::Int64, false),
        Field::new("event_timestamp", ts, false),
        Field::new("trip_id", DataType::Int64, true),
        Field::new("fare", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.1)).with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.2))),
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.3))),
        ],
    )
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

/// The four aggregates of `driver` at `time`, by the documented windows (1 h: minute tiles;
/// 1 d: hour tiles): count, sum over 1 h, mean and max over 1 d.
fn by_hand(events: &[(i64, i64, i64, Option<f64>)], driver: i64, time: i64) -> Aggregates {
    let start = |tile: i64, window: i64| time.div_euclid(tile) * tile - window + tile;
    let within = |tile, window| {
        events
            .iter()
            .filter(move |e| e.0 == driver && e.1 >= start(tile, window) && e.1 <= time)
    };
    let hour: Vec<f64> = within(MINUTE, 60 * MINUTE).filter_map(|e| e.3).collect();
    let day: Vec<f64> = within(60 * MINUTE, 1_440 * MINUTE).filter_map(|e| e.3).collect();
    let count = within(60 * MINUTE, 1_440 * MINUTE).count() as i64;
    let sum = (!hour.is_empty()).then(|| hour.iter().sum());
    let mean = (!day.is_empty()).then(|| day.iter().sum::<f64>() / day.len() as f64);
    let max = day.iter().copied().reduce(f64::max);
    (sum, count, mean, max)
}

fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// fare sum over 1 h, trip count over 1 d, fare mean and max over 1 d.
type Aggregates = (Option<f64>, i64, Option<f64>, Option<f64>);

/// The four aggregates of each row of a training set.
fn aggregates(frame: &RecordBatch) -> Vec<Aggregates> {
    let float = |name: &str, row: usize| {
        let column = frame.column_by_name(name).unwrap().as_primitive::<Float64Type>();
        column.is_valid(row).then(|| column.value(row))
    };
    let counts = frame
        .column_by_name("trip_id_count_1d")
        .unwrap()
        .as_primitive::<Int64Type>();
    (0..frame.num_rows())
        .map(|row| {
            (
                float("fare_sum_1h", row),
                counts.value(row),
                float("fare_mean_1d", row),
                float("fare_max_1d", row),
            )
        })
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a == b,
    }
}

async fn training_set_over_rest(t: &TestPlatform, rows: &[(i64, i64)]) -> RecordBatch {
    let mut csv = String::from("driver_id,event_timestamp\n");
    for (driver, time) in rows {
        csv.push_str(&format!("{driver},{}\n", iso(*time)));
    }
    let response = t
        .historical_csv(PROJECT, &format!("features={}", FEATURES.join(",")), csv)
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    read_parquet(&response.bytes().await.unwrap())
}

/// The online values of drivers 1..=4, with their statuses.
async fn online(t: &TestPlatform) -> Vec<(Option<f64>, Option<i64>, Option<f64>, Option<f64>, String)> {
    let body = json!({ "features": FEATURES, "entities": { "driver_id": [1, 2, 3, 4] } });
    let online: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/online"),
            &t.admin(),
            &body,
        )
        .await;
    let column = |i: usize| online["results"][i]["values"].as_array().unwrap().clone();
    (0..4)
        .map(|row| {
            (
                column(1)[row].as_f64(),
                column(2)[row].as_i64(),
                column(3)[row].as_f64(),
                column(4)[row].as_f64(),
                online["results"][2]["statuses"][row].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Online now equals the training set at the moment right after the read.
async fn online_equals_offline(t: &TestPlatform, context: &str) {
    let served = online(t).await;
    let now = chrono::Utc::now().timestamp_micros();
    let offline = aggregates(&training_set_over_rest(t, &[(1, now), (2, now), (3, now), (4, now)]).await);
    for (row, (served, expected)) in served.iter().zip(&offline).enumerate() {
        if served.4 == "NOT_FOUND" {
            assert_eq!(expected.1, 0, "{context}: driver {} has events offline", row + 1);
        }
        assert!(
            close(served.0, expected.0)
                && served.1 == Some(expected.1)
                && close(served.2, expected.2)
                && close(served.3, expected.3),
            "{context}: driver {}: online {served:?}, offline {expected:?}",
            row + 1
        );
    }
}

async fn scenario(t: &TestPlatform) {
    t.create_project(PROJECT).await;
    let apply_url = format!("/api/v1/projects/{PROJECT}/features/apply");
    // An aggregated view with a ttl of its own is refused, naming the field.
    let with_ttl = REPO.replace("    aggregations:", "    ttl: 1d\n    aggregations:");
    let refused = t
        .post(
            &apply_url,
            &t.admin(),
            &json!({ "files": [{ "path": "trips.yaml", "content": with_ttl }] }),
        )
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(refused).await;
    assert_eq!((status, code.as_str()), (400, "invalid_repository"), "{message}");
    assert!(
        message.contains("trips.yaml: feature_views[0] (driver_trips): ttl"),
        "{message}"
    );
    let applied: Value = t
        .post_json(
            &apply_url,
            &t.admin(),
            &json!({ "files": [{ "path": "trips.yaml", "content": REPO }] }),
        )
        .await;
    assert_eq!(applied["applied"], true, "{applied}");
    // Changing a window is a breaking change.
    let longer = REPO.replace("window: 1h}", "window: 2h}");
    let refused = t
        .post(
            &apply_url,
            &t.admin(),
            &json!({ "files": [{ "path": "trips.yaml", "content": longer }] }),
        )
        .send()
        .await
        .unwrap();
    let (_, code, message) = error_of(refused).await;
    assert_eq!(code, "breaking_change", "{message}");
    assert!(
        message.contains("aggregations would change from [fare_sum_1h,")
            && message.contains("to [fare_sum_2h,"),
        "{message}"
    );

    let now = chrono::Utc::now().timestamp_micros();
    let trips = events(now);
    let settings = &t.settings.features.service.object_store;
    let url = storage::resolve_url(settings, &t.settings.common.data_dir, "features").unwrap();
    let objects = storage::open(&url, settings, "features.object_store").unwrap();
    objects
        .put(
            &Path::from("data/trips/part-0.parquet"),
            events_parquet(&trips).into(),
        )
        .await
        .unwrap();

    // Training sets, over REST and gRPC, against the aggregates computed by hand; driver 4
    // has no events, and a row an hour back sees fewer.
    let rows = [
        (1, now),
        (2, now - 30 * MINUTE),
        (3, now - 600 * MINUTE),
        (4, now),
        (1, now - 1_500 * MINUTE),
    ];
    let frame = training_set_over_rest(t, &rows).await;
    let got = aggregates(&frame);
    for (row, (driver, time)) in rows.iter().enumerate() {
        let expected = by_hand(&trips, *driver, *time);
        let same = close(got[row].0, expected.0)
            && got[row].1 == expected.1
            && close(got[row].2, expected.2)
            && close(got[row].3, expected.3);
        assert!(same, "row {row}: {:?} by hand, {:?} served", expected, got[row]);
    }
    assert!(
        got[0].1 > 0 && got[0].0.is_some(),
        "driver 1 has trips in the last hour: {got:?}"
    );
    assert_eq!(got[3], (None, 0, None, None), "driver 4 has no events");
    let mut entity_frame = String::from("driver_id,event_timestamp\n");
    for (driver, time) in &rows {
        entity_frame.push_str(&format!("{driver},{}\n", iso(*time)));
    }
    let mut grpc = FeatureServiceClient::new(t.grpc_channel("features", &t.admin()).await);
    let answer = grpc
        .get_historical_features(pb::GetHistoricalFeaturesRequest {
            project: PROJECT.to_owned(),
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            entity_frame: entity_frame.into_bytes().into(),
            format: pb::EntityFrameFormat::Csv as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        aggregates(&read_parquet(&answer.parquet)),
        got,
        "gRPC and REST agree"
    );

    // Before materialization nothing is online; after it, online equals offline.
    assert!(online(t).await.iter().all(|row| row.4 == "NOT_FOUND"));
    let materialized: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/materialize"),
            &t.admin(),
            &json!({ "start": iso(now - 3 * 1_440 * MINUTE), "end": iso(now) }),
        )
        .await;
    assert_eq!(materialized["views"][0]["entities_written"], 3, "{materialized}");
    online_equals_offline(t, "after materialization").await;

    // A push reaches the tiles (and the batch source); an event older than the allowed
    // lateness (the longest window) is counted, not applied.
    let pushed_at = iso(chrono::Utc::now().timestamp_micros() - 2 * MINUTE);
    let stale = iso(now - 3 * 1_440 * MINUTE);
    let push = json!({
        "push_source_name": "trip_events",
        "df": {
            "driver_id": [1, 4, 2],
            "event_timestamp": [pushed_at, pushed_at, stale],
            "trip_id": [9001, 9002, 9003],
            "fare": [12.5, 40.0, 99.0],
        },
        "to": "online_and_offline",
    });
    let answer: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/push"),
            &t.admin(),
            &push,
        )
        .await;
    assert_eq!(
        (answer["rows"].as_u64(), answer["late_events"].as_u64()),
        (Some(3), Some(1)),
        "{answer}"
    );
    let served = online(t).await;
    assert_eq!(
        (served[3].1, served[3].0),
        (Some(1), Some(40.0)),
        "driver 4's first trip: {served:?}"
    );
    online_equals_offline(t, "after the push").await;

    // A push whose fare is not a number is refused whole, naming the column.
    let wrong = json!({
        "push_source_name": "trip_events",
        "df": { "driver_id": [1], "event_timestamp": [pushed_at], "trip_id": [1], "fare": ["cheap"] },
    });
    let (status, _, message) = error_of(
        t.post(
            &format!("/api/v1/projects/{PROJECT}/features/push"),
            &t.admin(),
            &wrong,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("'fare'"), "{message}");
    online_equals_offline(t, "after the refused push").await;
}

#[tokio::test]
async fn aggregations_on_embedded_stores() {
    let t = TestPlatform::embedded().await;
    scenario(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn aggregations_on_postgres_s3_and_redis() {
    let Some((t, pg)) = TestPlatform::on(Backend::Production).await else {
        return;
    };
    scenario(&t).await;
    t.shutdown().await;
    drop(pg);
}
