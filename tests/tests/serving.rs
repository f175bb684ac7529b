//! Serving end to end, on the embedded stores and on PostgreSQL + Redis + S3: scikit-learn
//! models exported to ONNX (`services/serving/tests/fixtures`, with scikit-learn's own answers)
//! registered as versions, deployed behind an alias, answering predictions from features read
//! online, through gRPC and REST; the alias moved under load with no failed request; a canary
//! split; a shadow challenger and every prediction logged to the monitor; batch scoring equal
//! to online scoring; missing features and unservable versions refused with the reason; each
//! deployment's predictions and errors counted by role, in total and over the last minute.
//! The deployment list pages by name, each deployment of a page with its live counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arrow::array::{
    Array, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_common::storage;
use lathe_contract::features::v1 as features;
use lathe_contract::monitor::v1 as monitor;
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::registry::v1 as registry;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use lathe_contract::registry::v1::tracking_service_client::TrackingServiceClient;
use lathe_contract::serving::v1 as pb;
use lathe_contract::serving::v1::serving_service_client::ServingServiceClient;
use lathe_tests::{Backend, GrpcChannel, TestPlatform};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use tonic::Code;

const PROJECT: &str = "serve";
const MODEL: &str = "churn";
const INPUTS: [&str; 3] = ["driver_stats:f0", "driver_stats:f1", "driver_stats:f2"];
/// Drivers 1000.. hold the fixture's rows as their features.
const DRIVERS: usize = 20;
const HOUR: i64 = 3_600_000_000;

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
    ttl: 30d
    schema:
      - {name: f0, type: float32}
      - {name: f1, type: float32}
      - {name: f2, type: float32}
"#;

#[derive(serde::Deserialize)]
struct Expected {
    rows: Vec<Vec<f32>>,
    models: HashMap<String, Sklearn>,
}

#[derive(serde::Deserialize)]
struct Sklearn {
    #[serde(default)]
    labels: Vec<Value>,
    #[serde(default)]
    probabilities: Vec<Vec<f64>>,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../services/serving/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn expected() -> Expected {
    serde_json::from_slice(&fixture("expected.json")).expect("expected.json")
}

fn driver(i: usize) -> i64 {
    1000 + i as i64
}

fn t0() -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    now - now.rem_euclid(HOUR) - HOUR
}

fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One row per driver at T0: the fixture's rows as f0, f1, f2.
fn source(rows: &[Vec<f32>]) -> Vec<u8> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let column = |j: usize| {
        Arc::new(Float32Array::from_iter_values(
            rows[..DRIVERS].iter().map(|r| r[j]),
        ))
    };
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("driver_id", DataType::Int64, false),
            Field::new("event_timestamp", ts, false),
            Field::new("f0", DataType::Float32, true),
            Field::new("f1", DataType::Float32, true),
            Field::new("f2", DataType::Float32, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values((0..DRIVERS).map(driver))),
            Arc::new(TimestampMicrosecondArray::from(vec![t0(); DRIVERS]).with_timezone("UTC")),
            column(0),
            column(1),
            column(2),
        ],
    )
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

async fn set_up_features(t: &TestPlatform, rows: &[Vec<f32>]) {
    let settings = &t.settings.features.service.object_store;
    let url = storage::resolve_url(settings, &t.settings.common.data_dir, "features").unwrap();
    let store = storage::open(&url, settings, "features.object_store").unwrap();
    store
        .put(&Path::from("data/driver_stats.parquet"), source(rows).into())
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
    let window = json!({ "start": iso(t0()), "end": iso(t0() + HOUR) });
    let materialized: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/materialize"),
            &t.admin(),
            &window,
        )
        .await;
    assert_eq!(
        materialized["views"][0]["entities_written"], DRIVERS,
        "{materialized}"
    );
}

/// A run whose `model/` holds `file` (as `model.onnx`, or under another name).
async fn run_with(
    tracking: &mut TrackingServiceClient<GrpcChannel>,
    experiment: &str,
    path: &str,
    data: Vec<u8>,
) -> String {
    let run = tracking
        .create_run(registry::CreateRunRequest {
            project: PROJECT.into(),
            experiment_id: experiment.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let size = data.len() as u64;
    let parts = [
        registry::upload_artifact_request::Part::Header(registry::UploadArtifactHeader {
            project: PROJECT.into(),
            run_id: run.clone(),
            path: path.into(),
            expected_sha256: String::new(),
        }),
        registry::upload_artifact_request::Part::Chunk(data.into()),
        registry::upload_artifact_request::Part::Commit(registry::UploadArtifactCommit { size }),
    ];
    let messages = parts.map(|part| registry::UploadArtifactRequest { part: Some(part) });
    tracking
        .upload_artifact(futures::stream::iter(messages))
        .await
        .unwrap();
    run
}

/// Versions 1 (logistic regression), 2 (gradient boosting) and 3 (no ONNX file); `champion`
/// on 1, `broken` on 3.
async fn register(t: &TestPlatform) -> ModelRegistryServiceClient<GrpcChannel> {
    let channel = t.grpc_channel("registry", &t.admin()).await;
    let mut tracking = TrackingServiceClient::new(channel.clone());
    let mut models = ModelRegistryServiceClient::new(channel);
    let experiment = tracking
        .create_experiment(registry::CreateExperimentRequest {
            project: PROJECT.into(),
            name: "churn".into(),
            tags: HashMap::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    models
        .create_model(registry::CreateModelRequest {
            project: PROJECT.into(),
            name: MODEL.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for (path, file) in [
        ("model/model.onnx", fixture("logreg.onnx")),
        ("model/model.onnx", fixture("gbc.onnx")),
        ("model/model.pkl", b"not onnx".to_vec()),
    ] {
        let run = run_with(&mut tracking, &experiment, path, file).await;
        models
            .create_model_version(registry::CreateModelVersionRequest {
                project: PROJECT.into(),
                model: MODEL.into(),
                run_id: run,
                artifact_path: "model".into(),
                signature: Some(registry::Signature {
                    inputs: INPUTS.map(str::to_owned).to_vec(),
                    output: "churned".into(),
                    defaults: HashMap::from([(INPUTS[2].to_owned(), 0.0)]),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    set_alias(&mut models, "champion", 1).await;
    set_alias(&mut models, "broken", 3).await;
    models
}

async fn set_alias(models: &mut ModelRegistryServiceClient<GrpcChannel>, alias: &str, version: u64) {
    models
        .set_alias(registry::SetAliasRequest {
            project: PROJECT.into(),
            model: MODEL.into(),
            alias: alias.into(),
            version,
            ..Default::default()
        })
        .await
        .unwrap();
}

fn entities(drivers: &[i64]) -> Vec<features::EntityColumn> {
    vec![features::EntityColumn {
        name: "driver_id".into(),
        values: drivers
            .iter()
            .map(|d| features::Value {
                kind: Some(features::value::Kind::Int64Value(*d)),
            })
            .collect(),
    }]
}

fn predict_request(deployment: &str, drivers: &[i64]) -> pb::PredictRequest {
    pb::PredictRequest {
        project: PROJECT.into(),
        deployment: deployment.into(),
        entities: entities(drivers),
        request_features: vec![],
        include_features: true,
    }
}

/// Each prediction against scikit-learn's own for the fixture row it was given.
fn assert_as_sklearn(answer: &pb::PredictResponse, sklearn: &Sklearn, rows: &[Vec<f32>], first: usize) {
    assert_eq!(answer.classes, ["0", "1"]);
    assert_eq!(answer.inputs, INPUTS);
    for (k, p) in answer.predictions.iter().enumerate() {
        let i = first + k;
        assert_eq!(p.label, sklearn.labels[i].to_string(), "row {i}");
        for (ours, theirs) in p.probabilities.iter().zip(&sklearn.probabilities[i]) {
            assert!(
                (ours - theirs).abs() < 1e-5,
                "row {i}: {:?} vs {:?}",
                p.probabilities,
                sklearn.probabilities[i]
            );
        }
        let used: Vec<f32> = p.features.iter().map(|&f| f as f32).collect();
        assert_eq!(used, rows[i], "row {i}: the online values used");
    }
}

async fn deploy(
    serving: &mut ServingServiceClient<GrpcChannel>,
    request: pb::DeployRequest,
) -> pb::Deployment {
    serving
        .deploy(pb::DeployRequest {
            project: PROJECT.into(),
            model: MODEL.into(),
            ..request
        })
        .await
        .unwrap_or_else(|status| panic!("deploy: {status:?}"))
        .into_inner()
}

/// Rows the monitor holds in the window of now.
async fn logged_rows(monitors: &mut MonitorServiceClient<GrpcChannel>, name: &str, at: SystemTime) -> u64 {
    let checked = monitors
        .check_window(monitor::CheckWindowRequest {
            project: PROJECT.into(),
            monitor: name.into(),
            window: Some(at.into()),
        })
        .await;
    checked.map(|r| r.into_inner().rows).unwrap_or(0)
}

/// A deployment's counts by role, as GetDeployment answers them.
async fn stats_of(
    serving: &mut ServingServiceClient<GrpcChannel>,
    name: &str,
) -> pb::deployment::DeploymentStats {
    serving
        .get_deployment(pb::DeploymentRef {
            project: PROJECT.into(),
            name: name.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .expect("a served deployment has stats")
}

/// A role's counts of the last minute, read after predictions made since `since`: all of its
/// counts when that was well inside a minute ago (as it is but on a machine stalled for most
/// of a minute), else no more than them.
fn assert_last_minute(role: &pb::deployment::RoleStats, since: std::time::Instant) {
    if since.elapsed() < Duration::from_secs(45) {
        assert_eq!(
            (role.predictions_last_minute, role.errors_last_minute),
            (role.predictions_total, role.errors_total),
            "{role:?}"
        );
        assert!(
            role.per_second > 0.0 && role.per_second <= role.predictions_last_minute as f64,
            "{role:?}"
        );
    } else {
        assert!(
            role.predictions_last_minute <= role.predictions_total
                && role.errors_last_minute <= role.errors_total,
            "{role:?}"
        );
    }
}

async fn scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let expected = expected();
    let rows = &expected.rows;
    set_up_features(&t, rows).await;
    let mut models = register(&t).await;
    let editor = t.token(lathe_tests::TokenRole::Editor, &[PROJECT]);
    let mut serving = ServingServiceClient::new(t.grpc_channel("serving", &editor).await);

    // Deploy: the alias's version is loaded before the answer.
    let deployment = deploy(&mut serving, pb::DeployRequest::default()).await;
    assert_eq!(deployment.name, MODEL);
    assert_eq!(deployment.alias, "champion");
    let served = deployment.serving.expect("a version is served");
    assert_eq!(
        (
            served.version,
            served.inputs.as_slice(),
            served.classes.as_slice()
        ),
        (
            1,
            &INPUTS.map(str::to_owned)[..],
            &["0".to_owned(), "1".to_owned()][..]
        )
    );

    // gRPC: the online features of 20 drivers, scored as scikit-learn scores them.
    let drivers: Vec<i64> = (0..DRIVERS).map(driver).collect();
    let answer = serving
        .predict(predict_request(MODEL, &drivers))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.predictions.len(), DRIVERS);
    assert!(answer.predictions.iter().all(|p| p.version == 1));
    assert_as_sklearn(&answer, &expected.models["logreg"], rows, 0);
    let ids: std::collections::HashSet<&str> = answer
        .predictions
        .iter()
        .map(|p| p.prediction_id.as_str())
        .collect();
    assert_eq!(ids.len(), DRIVERS, "prediction ids are unique");

    // REST: the same answer.
    let viewer = t.token(lathe_tests::TokenRole::Viewer, &[PROJECT]);
    let rest: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/predict/{MODEL}"),
            &viewer,
            &json!({"entities": {"driver_id": [driver(3), driver(4)]}}),
        )
        .await;
    assert_eq!(rest["predictions"][0]["version"], 1, "{rest}");
    assert_eq!(
        rest["predictions"][1]["label"],
        expected.models["logreg"].labels[4].to_string(),
        "{rest}"
    );

    // A driver the store lacks: f2 has a default, f0 and f1 do not: 422 naming them; given
    // with the request, the prediction goes through.
    let missing = t
        .post(
            &format!("/api/v1/projects/{PROJECT}/predict/{MODEL}"),
            &viewer,
            &json!({"entities": {"driver_id": [9999]}}),
        )
        .send()
        .await
        .unwrap();
    let (status, _, message) = lathe_tests::error_of(missing).await;
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("driver_stats:f0 for driver_id=9999") && message.contains("driver_stats:f1"),
        "{message}"
    );
    assert!(
        !message.contains("driver_stats:f2"),
        "f2 has a default: {message}"
    );
    let mut given = predict_request(MODEL, &[9999]);
    given.request_features = vec![
        pb::RequestFeature {
            name: INPUTS[0].into(),
            values: vec![0.5],
        },
        pb::RequestFeature {
            name: INPUTS[1].into(),
            values: vec![-0.5],
        },
    ];
    let answer = serving.predict(given).await.unwrap().into_inner();
    assert_eq!(answer.predictions[0].features, [0.5, -0.5, 0.0]);

    // A version without model.onnx cannot be deployed, and says why.
    let refused = serving
        .deploy(pb::DeployRequest {
            project: PROJECT.into(),
            name: "broken".into(),
            model: MODEL.into(),
            alias: "broken".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("model.onnx"), "{}", refused.message());

    // Batch scoring: the historical features as of T0 + 30 min, the same model code: the same
    // answers as online.
    let frame = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("driver_id", DataType::Int64, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ])),
        vec![
            Arc::new(Int64Array::from(drivers.clone())),
            Arc::new(TimestampMicrosecondArray::from(vec![t0() + HOUR / 2; DRIVERS]).with_timezone("UTC")),
        ],
    )
    .unwrap();
    let batch = serving
        .batch_predict(pb::BatchPredictRequest {
            project: PROJECT.into(),
            deployment: MODEL.into(),
            entity_frame: lathe_tests::parquet_bytes(&frame).into(),
            format: features::EntityFrameFormat::Parquet as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((batch.rows, batch.version), (DRIVERS as u64, 1));
    let online = serving
        .predict(predict_request(MODEL, &drivers))
        .await
        .unwrap()
        .into_inner();
    let scored = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(batch.parquet)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let batch_drivers = scored
        .column_by_name("driver_id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .clone();
    let labels = scored
        .column_by_name("label")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone();
    let p1 = scored
        .column_by_name("probability_1")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .clone();
    for row in 0..scored.num_rows() {
        let i = (batch_drivers.value(row) - 1000) as usize;
        assert_eq!(
            labels.value(row),
            online.predictions[i].label,
            "driver {}",
            driver(i)
        );
        assert_eq!(
            p1.value(row),
            online.predictions[i].probabilities[1],
            "driver {}: batch = online",
            driver(i)
        );
    }
    assert_eq!(labels.len(), DRIVERS);
    // The same through REST, as `lathe predict --entities` sends it.
    let rest = t
        .http
        .post(format!(
            "{}/api/v1/projects/{PROJECT}/predict/{MODEL}/batch",
            t.url
        ))
        .bearer_auth(&viewer)
        .header("content-type", "application/vnd.apache.parquet")
        .body(lathe_tests::parquet_bytes(&frame))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 200);
    assert_eq!(rest.headers()["x-lathe-rows"], DRIVERS.to_string().as_str());
    assert_eq!(rest.headers()["x-lathe-version"], "1");
    let body = rest.bytes().await.unwrap();
    let rest_scored = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        rest_scored.column_by_name("label"),
        scored.column_by_name("label")
    );

    // Counters: single predictions, one call for M entities and a batch scoring of DRIVERS rows
    // count each entity or row; a call that fails once its version is picked counts its
    // entities as errors; one refused before that (no entities) is not counted.
    let since = std::time::Instant::now();
    let counted = deploy(
        &mut serving,
        pb::DeployRequest {
            name: "counted".into(),
            ..Default::default()
        },
    )
    .await;
    let fresh = counted.stats.expect("stats").champion.expect("champion");
    assert_eq!(
        (fresh.version, fresh.predictions_total, fresh.errors_total),
        (1, 0, 0)
    );
    let singles = 3;
    for &one in &drivers[..singles] {
        serving.predict(predict_request("counted", &[one])).await.unwrap();
    }
    let m = 7;
    serving
        .predict(predict_request("counted", &drivers[..m]))
        .await
        .unwrap();
    let scored_rows = serving
        .batch_predict(pb::BatchPredictRequest {
            project: PROJECT.into(),
            deployment: "counted".into(),
            entity_frame: lathe_tests::parquet_bytes(&frame).into(),
            format: features::EntityFrameFormat::Parquet as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(scored_rows, DRIVERS as u64);
    let failed = serving
        .predict(predict_request("counted", &[9998, 9999]))
        .await
        .unwrap_err();
    assert!(failed.message().contains("missing"), "{failed:?}");
    let refused = serving
        .predict(predict_request("counted", &[]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let stats = stats_of(&mut serving, "counted").await;
    let champion = stats.champion.expect("champion");
    let made = (singles + m + DRIVERS) as u64;
    assert_eq!(
        (
            champion.version,
            champion.predictions_total,
            champion.errors_total
        ),
        (1, made, 2),
        "{champion:?}"
    );
    assert_last_minute(&champion, since);
    assert!(stats.challenger.is_none(), "{stats:?}");
    // The same over REST, in the deployment's JSON and in the list.
    let shown: Value = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/deployments/counted"),
            &viewer,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rest_champion = &shown["stats"]["champion"];
    assert_eq!(rest_champion["version"], 1, "{shown}");
    assert_eq!(rest_champion["predictions_total"], made, "{shown}");
    assert_eq!(rest_champion["errors_total"], 2, "{shown}");
    assert!(
        rest_champion["per_second"].as_f64().is_some_and(|r| r >= 0.0),
        "{shown}"
    );
    assert!(shown["stats"]["challenger"].is_null(), "{shown}");
    let listed: Value = t
        .get(&format!("/api/v1/projects/{PROJECT}/deployments"), &viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let in_list = listed["deployments"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["name"] == "counted"))
        .unwrap_or_else(|| panic!("counted is listed: {listed}"));
    assert_eq!(
        in_list["stats"]["champion"]["predictions_total"], made,
        "{listed}"
    );
    serving
        .undeploy(pb::DeploymentRef {
            project: PROJECT.into(),
            name: "counted".into(),
        })
        .await
        .unwrap();

    // The alias moves under load: the new version is loaded and swapped in; no request fails.
    let failures = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let mut client = serving.clone();
        let (failures, answered, stop) = (failures.clone(), answered.clone(), stop.clone());
        let drivers = drivers.clone();
        load.push(tokio::spawn(async move {
            let mut newest = 0;
            while !stop.load(Ordering::Relaxed) {
                match client.predict(predict_request(MODEL, &drivers[..5])).await {
                    Ok(answer) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                        newest = newest.max(answer.into_inner().predictions[0].version);
                    }
                    Err(status) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("predict failed during the switch: {status:?}");
                    }
                }
            }
            newest
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_alias(&mut models, "champion", 2).await;
    let started = std::time::Instant::now();
    loop {
        let now = serving
            .predict(predict_request(MODEL, &drivers[..1]))
            .await
            .unwrap()
            .into_inner();
        if now.predictions[0].version == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the deployment never followed the alias"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        assert_eq!(task.await.unwrap(), 2, "every load task saw the new version");
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request failed during the switch"
    );
    assert!(answered.load(Ordering::Relaxed) > 20);
    let answer = serving
        .predict(predict_request(MODEL, &drivers))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.predictions.iter().all(|p| p.version == 2));
    assert_as_sklearn(&answer, &expected.models["gbc"], rows, 0);

    // Canary: the challenger (version 1) answers 20% of 2,000 requests, within ±5 points.
    set_alias(&mut models, "challenger", 1).await;
    let canary = deploy(
        &mut serving,
        pb::DeployRequest {
            name: "canary".into(),
            challenger: Some(pb::Challenger {
                alias: "challenger".into(),
                mode: pb::ChallengerMode::Canary as i32,
                traffic_percent: 20,
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(canary.challenger_serving.map(|s| s.version), Some(1));
    let canary_since = std::time::Instant::now();
    let mut by_challenger = 0;
    for _ in 0..2000 {
        let answer = serving
            .predict(predict_request("canary", &drivers[..1]))
            .await
            .unwrap()
            .into_inner();
        if answer.predictions[0].version == 1 {
            by_challenger += 1;
        }
    }
    assert!(
        (300..=500).contains(&by_challenger),
        "{by_challenger} of 2000 answered by the 20% canary"
    );
    // Each role counts what it answered; the split configured is the challenger's.
    let canary = serving
        .get_deployment(pb::DeploymentRef {
            project: PROJECT.into(),
            name: "canary".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(canary.challenger.as_ref().map(|c| c.traffic_percent), Some(20));
    let stats = canary.stats.expect("stats");
    let (champion, challenger) = (
        stats.champion.expect("champion"),
        stats.challenger.expect("challenger"),
    );
    assert_eq!(
        (
            champion.version,
            champion.predictions_total,
            champion.errors_total
        ),
        (2, 2000 - by_challenger, 0),
        "{champion:?}"
    );
    assert_eq!(
        (
            challenger.version,
            challenger.predictions_total,
            challenger.errors_total
        ),
        (1, by_challenger, 0),
        "{challenger:?}"
    );
    assert_last_minute(&champion, canary_since);
    assert_last_minute(&challenger, canary_since);

    // Shadow, logged: every prediction of the champion and of its shadow reaches the monitor.
    let mut monitors = MonitorServiceClient::new(t.grpc_channel("monitor", &t.admin()).await);
    let check = |column: &str| monitor::FeatureCheck {
        column: column.to_owned(),
        metric: monitor::DriftMetric::Psi as i32,
        threshold: 0.1,
    };
    monitors
        .put_monitor(monitor::PutMonitorRequest {
            project: PROJECT.into(),
            name: "predictions".into(),
            checks: vec![check("f0"), check("f1"), check("f2")],
            window_seconds: 3600,
            paused: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let reference = RecordBatch::try_new(
        Arc::new(Schema::new(
            ["f0", "f1", "f2"]
                .map(|name| Field::new(name, DataType::Float32, false))
                .to_vec(),
        )),
        (0..3)
            .map(|j| Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r[j]))) as _)
            .collect(),
    )
    .unwrap();
    monitors
        .set_reference(monitor::SetReferenceRequest {
            project: PROJECT.into(),
            monitor: "predictions".into(),
            source: Some(monitor::set_reference_request::Source::Parquet(
                lathe_tests::parquet_bytes(&reference).into(),
            )),
        })
        .await
        .unwrap();
    let shadowed = deploy(
        &mut serving,
        pb::DeployRequest {
            name: "shadowed".into(),
            challenger: Some(pb::Challenger {
                alias: "challenger".into(),
                mode: pb::ChallengerMode::Shadow as i32,
                traffic_percent: 0,
            }),
            monitor: "predictions".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(shadowed.sample_rate, 1.0);
    let at = SystemTime::now();
    for _ in 0..3 {
        let answer = serving
            .predict(predict_request("shadowed", &drivers))
            .await
            .unwrap()
            .into_inner();
        assert!(
            answer.predictions.iter().all(|p| p.version == 2),
            "the shadow's answers are not returned"
        );
    }
    let logged = 2 * 3 * DRIVERS as u64;
    let mut rows_seen = 0;
    for _ in 0..60 {
        rows_seen = logged_rows(&mut monitors, "predictions", at).await;
        if rows_seen >= logged {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        rows_seen, logged,
        "every prediction, the champion's and the shadow's, is logged once"
    );
    // The shadow's scored predictions are the challenger's, none of them answered.
    let stats = stats_of(&mut serving, "shadowed").await;
    let per_role = [stats.champion, stats.challenger].map(|r| r.map(|r| (r.version, r.predictions_total)));
    assert_eq!(
        per_role,
        [Some((2, 3 * DRIVERS as u64)), Some((1, 3 * DRIVERS as u64))]
    );

    // Listing, undeploy.
    let listed = serving
        .list_deployments(pb::ListDeploymentsRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.next_page_token.is_empty(), "three fit the default page");
    let mut names: Vec<(String, Option<u64>)> = listed
        .deployments
        .iter()
        .map(|d| (d.name.clone(), d.serving.as_ref().map(|s| s.version)))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("canary".into(), Some(2)),
            (MODEL.into(), Some(2)),
            ("shadowed".into(), Some(2))
        ]
    );
    serving
        .undeploy(pb::DeploymentRef {
            project: PROJECT.into(),
            name: "canary".into(),
        })
        .await
        .unwrap();
    let gone = serving
        .predict(predict_request("canary", &drivers[..1]))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // A project with deployments is deleted only with its data; a new project of the same
    // name serves nothing of the old one.
    let project_url = |cascade: &str| format!("{}/api/v1/projects/{PROJECT}{cascade}", t.url);
    let refused = t
        .http
        .delete(project_url(""))
        .bearer_auth(t.admin())
        .send()
        .await
        .unwrap();
    let (status, _, message) = lathe_tests::error_of(refused).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("deployments"), "{message}");
    let deleted = t
        .http
        .delete(project_url("?cascade=true"))
        .bearer_auth(t.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.status(),
        204,
        "{}",
        deleted.text().await.unwrap_or_default()
    );
    t.create_project(PROJECT).await;
    let listed = serving
        .list_deployments(pb::ListDeploymentsRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.deployments.is_empty(), "{:?}", listed.deployments);
    let gone = serving
        .predict(predict_request(MODEL, &drivers[..1]))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    t.shutdown().await;
    drop(pg);
}

/// One page of `GET …/deployments` with `query`, as JSON.
async fn deployments_page(t: &TestPlatform, token: &str, query: &str) -> Value {
    let response = t
        .get(&format!("/api/v1/projects/{PROJECT}/deployments?{query}"), token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

/// The deployment list pages by name: five deployments made out of order come two by two in
/// name order, each once with its own live stats; the pages hold whatever deployments come
/// after the last name seen, so one removed in between shifts nothing; sizes over 1000 and
/// tokens the server did not issue are refused.
async fn paging(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    register(&t).await;
    let editor = t.token(lathe_tests::TokenRole::Editor, &[PROJECT]);
    let mut serving = ServingServiceClient::new(t.grpc_channel("serving", &editor).await);
    for i in [3, 0, 4, 1, 2] {
        let name = format!("page-{i}");
        deploy(
            &mut serving,
            pb::DeployRequest {
                name: name.clone(),
                ..Default::default()
            },
        )
        .await;
    }
    // Counted by what this process serves: wait until every deployment is loaded here (the
    // alias refresh can reload one deployed a moment before, which starts its counts again).
    let viewer = t.token(lathe_tests::TokenRole::Viewer, &[PROJECT]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let all = deployments_page(&t, &viewer, "").await;
        let loaded = all["deployments"]
            .as_array()
            .expect("deployments")
            .iter()
            .filter(|d| d["stats"]["champion"]["version"] == 1)
            .count();
        if loaded == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every deployment loaded: {all:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for i in [3, 0, 4, 1, 2] {
        let name = format!("page-{i}");
        // `page-i` makes i predictions, every input given with the request.
        if i > 0 {
            let drivers: Vec<i64> = (0..i).map(driver).collect();
            let mut request = predict_request(&name, &drivers);
            request.request_features = INPUTS
                .iter()
                .map(|input| pb::RequestFeature {
                    name: (*input).into(),
                    values: vec![0.5; i],
                })
                .collect();
            serving.predict(request).await.unwrap();
        }
    }

    // REST, two at a time: 2 + 2 + 1, by name, each once, each with its stats.
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let query = if token.is_empty() {
            "page_size=2".to_owned()
        } else {
            format!("page_size=2&page_token={token}")
        };
        let page = deployments_page(&t, &viewer, &query).await;
        let deployments = page["deployments"].as_array().expect("deployments");
        sizes.push(deployments.len());
        for d in deployments {
            let champion = &d["stats"]["champion"];
            seen.push((
                d["name"].as_str().unwrap().to_owned(),
                champion["version"].as_u64(),
                champion["predictions_total"].as_u64(),
            ));
        }
        token = page["next_page_token"]
            .as_str()
            .expect("a token, empty or not")
            .to_owned();
        if token.is_empty() || sizes.len() > 5 {
            break;
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    let expected: Vec<_> = (0..5u64)
        .map(|i| (format!("page-{i}"), Some(1), Some(i)))
        .collect();
    assert_eq!(seen, expected, "by name, each once, with its own counts");

    // gRPC: the same pages; without a size, all five in one page ending the list.
    let first = serving
        .list_deployments(pb::ListDeploymentsRequest {
            project: PROJECT.into(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let names = |list: &pb::ListDeploymentsResponse| {
        list.deployments
            .iter()
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["page-0", "page-1"]);
    assert!(first.deployments.iter().all(|d| d.stats.is_some()), "{first:?}");
    let whole = serving
        .list_deployments(pb::ListDeploymentsRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(whole.deployments.len(), 5);
    assert!(whole.next_page_token.is_empty());

    // A deployment of the first page undeployed before the second is asked for: the second
    // page still starts right after the first page's last name.
    serving
        .undeploy(pb::DeploymentRef {
            project: PROJECT.into(),
            name: "page-0".into(),
        })
        .await
        .unwrap();
    let second = serving
        .list_deployments(pb::ListDeploymentsRequest {
            project: PROJECT.into(),
            page_size: 2,
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&second), ["page-2", "page-3"]);

    // Refused: a page over 1000, a token this server did not issue.
    let url = |query: &str| format!("/api/v1/projects/{PROJECT}/deployments?{query}");
    let too_big = t.get(&url("page_size=1001"), &viewer).send().await.unwrap();
    let (status, _, message) = lathe_tests::error_of(too_big).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("1000"), "{message}");
    let forged = t.get(&url("page_token=bogus"), &viewer).send().await.unwrap();
    let (status, code, message) = lathe_tests::error_of(forged).await;
    assert_eq!((status, code.as_str()), (400, "invalid_page_token"), "{message}");
    let refused = serving
        .list_deployments(pb::ListDeploymentsRequest {
            project: PROJECT.into(),
            page_size: 0,
            page_token: "bogus".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    t.shutdown().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployments_page_by_name_on_embedded_stores() {
    paging(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployments_page_by_name_on_postgres() {
    paging(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serving_on_embedded_stores() {
    scenario(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serving_on_postgres_redis_and_s3() {
    scenario(Backend::Production).await;
}
