//! The feature store end to end through the REST API, on the embedded stores and on
//! PostgreSQL + S3 + Redis: apply a repository, point-in-time training data, materialize,
//! serve online (Lathe's and Feast's shapes).

use std::sync::Arc;

use arrow::array::{Array, Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_common::storage;
use lathe_tests::{Backend, TestPlatform, TokenRole, error_of, read_parquet};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};

const PROJECT: &str = "rides";
const HOUR: i64 = 3_600_000_000;

/// The first hour of the source data: five hours before the current hour, so the last rows
/// (T0+4h) are one to two hours old, inside the view's 2h ttl when served online.
fn t0() -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    now - now.rem_euclid(HOUR) - 5 * HOUR
}

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_stats_source
    file: {path: data/driver_stats.parquet}
    created_timestamp_field: created
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_stats_source
    ttl: 2h
    schema:
      - {name: conv_rate, type: float32}
      - {name: trips, type: int64}
feature_services:
  - name: driver_activity
    features: [driver_stats:conv_rate, driver_stats:trips]
"#;

/// Drivers 1001..=1003, one row per hour from T0 to T0+4h; conv_rate = hour + driver/10000.
fn source_parquet() -> Vec<u8> {
    let mut drivers = Vec::new();
    let mut times = Vec::new();
    let mut rates = Vec::new();
    let mut trips = Vec::new();
    for hour in 0..5i64 {
        for driver in 1001..=1003i64 {
            drivers.push(driver);
            times.push(t0() + hour * HOUR);
            rates.push(hour as f32 + driver as f32 / 10_000.0);
            trips.push(hour * 10 + driver % 10);
        }
    }
    let created = times.clone();
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
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(created).with_timezone("UTC")),
            Arc::new(Float32Array::from(rates)),
            Arc::new(Int64Array::from(trips)),
        ],
    )
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

async fn put_source(t: &TestPlatform) {
    let settings = &t.settings.features.service.object_store;
    let url = storage::resolve_url(settings, &t.settings.common.data_dir, "features").unwrap();
    let store = storage::open(&url, settings, "features.object_store").unwrap();
    store
        .put(&Path::from("data/driver_stats.parquet"), source_parquet().into())
        .await
        .unwrap();
}

async fn apply(t: &TestPlatform, files: Value, dry_run: bool) -> reqwest::Response {
    let body = json!({ "files": files, "dry_run": dry_run });
    t.post(
        &format!("/api/v1/projects/{PROJECT}/features/apply"),
        &t.admin(),
        &body,
    )
    .send()
    .await
    .unwrap()
}

fn actions(plan: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().into(),
                c["kind"].as_str().unwrap().into(),
                c["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn repository_lifecycle(t: &TestPlatform) {
    let files = json!([{ "path": "features.yaml", "content": REPO }]);
    let plan: Value = apply(t, files.clone(), true).await.json().await.unwrap();
    assert_eq!(plan["applied"], false);
    assert!(actions(&plan).iter().all(|(a, _, _)| a == "create"), "{plan}");
    assert_eq!(actions(&plan).len(), 4);
    // A plan changes nothing.
    let listed: Value = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/features/definitions"),
            &t.admin(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["definitions"].as_array().unwrap().len(), 0);

    let applied: Value = apply(t, files.clone(), false).await.json().await.unwrap();
    assert_eq!(applied["applied"], true);
    let again: Value = apply(t, files.clone(), false).await.json().await.unwrap();
    assert!(
        actions(&again).iter().all(|(a, _, _)| a == "unchanged"),
        "re-applying is a no-op: {again}"
    );

    // A breaking change is refused and changes nothing.
    let retyped = REPO.replace("{name: trips, type: int64}", "{name: trips, type: string}");
    let (status, code, message) =
        error_of(apply(t, json!([{ "path": "features.yaml", "content": retyped }]), false).await).await;
    assert_eq!((status, code.as_str()), (412, "breaking_change"), "{message}");
    assert!(
        message.contains("'trips' would change type from int64 to string"),
        "{message}"
    );

    // Bad definitions: every problem with its file and path, nothing written.
    let broken = REPO
        .replace("entities: [driver]", "entities: [rider]")
        .replace("type: float32", "type: float");
    let (status, code, message) =
        error_of(apply(t, json!([{ "path": "repo/bad.yaml", "content": broken }]), false).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_repository"), "{message}");
    assert!(
        message
            .contains("repo/bad.yaml: feature_views[0] (driver_stats).schema[0].type: unknown type 'float'"),
        "{message}"
    );
    assert!(message.contains("no entity named 'rider'"), "{message}");

    // A compatible change gets a new version, kept with its history.
    let described = REPO.replace(
        "    ttl: 2h\n",
        "    ttl: 2h\n    description: hourly driver stats\n",
    );
    let changed: Value = apply(
        t,
        json!([{ "path": "features.yaml", "content": described }]),
        false,
    )
    .await
    .json()
    .await
    .unwrap();
    let update: Vec<_> = actions(&changed)
        .into_iter()
        .filter(|(a, _, _)| a == "update")
        .collect();
    assert_eq!(
        update,
        [(
            "update".to_owned(),
            "feature_view".to_owned(),
            "driver_stats".to_owned()
        )]
    );
    let history: Value = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/features/definitions/feature_view/driver_stats/history"),
            &t.admin(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions: Vec<u64> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
}

async fn historical(t: &TestPlatform) {
    // Entity rows: exactly on an hour (equality counts), between hours, beyond the 2h ttl, unknown driver.
    let csv = format!(
        "driver_id,event_timestamp,label\n1001,{},a\n1002,{},b\n1003,{},c\n9999,{},d\n1001,{},e\n",
        iso(t0() + 2 * HOUR),
        iso(t0() + 2 * HOUR + HOUR / 2),
        iso(t0() + 10 * HOUR),
        iso(t0() + HOUR),
        iso(t0() + 2 * HOUR),
    );
    let response = t
        .historical_csv(PROJECT, "feature_service=driver_activity", csv)
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let frame = read_parquet(&response.bytes().await.unwrap());
    assert_eq!(frame.num_rows(), 5, "every entity row once, duplicates included");
    let names: Vec<String> = frame.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        ["driver_id", "event_timestamp", "label", "conv_rate", "trips"]
    );
    let rates = frame
        .column_by_name("conv_rate")
        .unwrap()
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap()
        .clone();
    assert_eq!(rates.value(0), 2.0 + 0.1001);
    assert_eq!(rates.value(1), 2.0 + 0.1002);
    assert!(rates.is_null(2), "beyond the ttl");
    assert!(rates.is_null(3), "unknown driver");
    assert_eq!(rates.value(4), rates.value(0));

    let unknown = t
        .historical_csv(
            PROJECT,
            "features=driver_stats:nope",
            "driver_id,event_timestamp\n1001,2026-01-01T00:00:00Z\n".to_owned(),
        )
        .await;
    assert_eq!(error_of(unknown).await.1, "feature_not_found");
}

/// Applies one pipeline in `project`, triggers it with `params` and waits for its end.
async fn run_pipeline(t: &TestPlatform, project: &str, yaml: &str, params: Value) -> Value {
    let api = |path: &str| format!("/api/v1/projects/{project}{path}");
    let applied = t
        .post(
            &api("/pipelines/apply"),
            &t.admin(),
            &json!({"files": [{"path": "pipeline.yaml", "content": yaml}]}),
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
    let name = yaml.lines().find_map(|l| l.strip_prefix("name: ")).unwrap();
    let mut run: Value = t
        .post(
            &api(&format!("/pipelines/{name}/runs")),
            &t.admin(),
            &json!({ "params": params }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = run["run_id"].as_str().unwrap().to_owned();
    for _ in 0..600 {
        if matches!(run["state"].as_str(), Some("success" | "failed" | "cancelled")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        run = t
            .get(&api(&format!("/pipeline-runs/{id}")), &t.admin())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!(run["state"], "success", "{run:#}");
    run
}

fn first_outputs(run: &Value) -> Value {
    serde_json::from_str(run["tasks"][0]["outputs_json"].as_str().unwrap()).unwrap()
}

/// The quickstart's pipeline: a `features.historical` task builds the same training set into
/// the run's artifacts and names where it is; a command task gets it as an input; the
/// registered version carries the signature given and, in its lineage, the feature service
/// and the training set; it is then promoted.
async fn training_set_from_a_pipeline(t: &TestPlatform) {
    let dir = tempfile::tempdir().unwrap();
    let frame = dir.path().join("entities.csv");
    std::fs::write(
        &frame,
        format!(
            "driver_id,event_timestamp\n1001,{}\n1002,{}\n",
            iso(t0() + 2 * HOUR),
            iso(t0() + 3 * HOUR)
        ),
    )
    .unwrap();
    let yaml = r#"
name: build
params: [{name: frame, type: string}, {name: run_id, type: string}]
tasks:
  - id: training_set
    kind: features.historical
    entities: '{{ params.frame }}'
    feature_service: driver_activity
    output: training/set.parquet
  - id: train
    kind: command
    depends_on: [training_set]
    inputs: {training_set: '{{ tasks.training_set.outputs.path }}'}
    argv: [sh, -c, 'printf "{\"magic\": \"%s\", \"run_id\": \"%s\"}" "$(head -c 4 "$LATHE_INPUT_TRAINING_SET")" "{{ params.run_id }}" > "$LATHE_OUTPUTS"']
  - id: register
    kind: registry.register
    depends_on: [train]
    model: driver-activity
    run_id: '{{ tasks.train.outputs.run_id }}'
    signature:
      inputs: ["driver_stats:conv_rate", "driver_stats:trips"]
      output: will_ride
      defaults: {"driver_stats:trips": 1.5}
  - id: promote
    kind: registry.promote
    depends_on: [register]
    model: driver-activity
    version: '{{ tasks.register.outputs.version }}'
    stage: Staging
"#;
    let run_id = model_run(t).await;
    let run = run_pipeline(
        t,
        PROJECT,
        yaml,
        json!({"frame": frame.to_str().unwrap(), "run_id": run_id}),
    )
    .await;
    assert_eq!(run["state"], "success", "{run}");
    let outputs = first_outputs(&run);
    assert_eq!(outputs["rows"], 2, "{outputs}");
    assert_eq!(outputs["feature_views"], json!(["driver_stats"]), "{outputs}");
    assert_eq!(
        outputs["columns"],
        json!(["driver_id", "event_timestamp", "conv_rate", "trips"])
    );
    let path = outputs["path"].as_str().unwrap();
    let id = run["run_id"].as_str().unwrap();
    assert!(
        path.ends_with(&format!("runs/{id}/training_set/artifacts/training/set.parquet")),
        "{path}"
    );
    if let Some(local) = path.strip_prefix('/') {
        let written = read_parquet(&std::fs::read(format!("/{local}")).unwrap());
        assert_eq!(written.num_rows(), 2);
    } else {
        assert!(path.starts_with("s3://"), "{path}");
    }
    let trained: Value = serde_json::from_str(run["tasks"][1]["outputs_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        trained["magic"], "PAR1",
        "the input is the Parquet training set: {trained}"
    );
    let version: Value = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/models/driver-activity/versions/1"),
            &t.admin(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["stage"], "Staging", "{version}");
    assert_eq!(
        version["signature"],
        json!({
            "inputs": ["driver_stats:conv_rate", "driver_stats:trips"],
            "output": "will_ride",
            "defaults": {"driver_stats:trips": 1.5},
        }),
        "{version}"
    );
    assert_eq!(
        version["lineage"]["feature_service"], "driver_activity",
        "{version}"
    );
    assert_eq!(
        version["lineage"]["feature_views"],
        json!(["driver_stats"]),
        "the views behind the feature service: {version}"
    );
    assert_eq!(version["lineage"]["training_dataset"], path, "{version}");
    assert_eq!(version["lineage"]["orchestrator_run"], id, "{version}");
    let by_view: Value = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/lineage?feature_view=driver_stats"),
            &t.admin(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found: Vec<(&Value, &Value)> = by_view["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("{by_view}"))
        .iter()
        .map(|v| (&v["model"], &v["version"]))
        .collect();
    assert_eq!(
        found,
        [(&json!("driver-activity"), &json!(1))],
        "a model trained through a feature service uses its views: {by_view}"
    );
}

/// A model and a tracking run with a model artifact to register from it; the run's id.
async fn model_run(t: &TestPlatform) -> String {
    let api = |path: &str| format!("/api/v1/projects/{PROJECT}{path}");
    let admin = t.admin();
    let model = t
        .post(&api("/models"), &admin, &json!({"name": "driver-activity"}))
        .send()
        .await
        .unwrap();
    assert_eq!(model.status(), 201);
    let experiment = t
        .post_json(&api("/experiments"), &admin, &json!({"name": "driver-activity"}))
        .await;
    let run = t
        .post_json(
            &api("/runs"),
            &admin,
            &json!({"experiment_id": experiment["experiment_id"]}),
        )
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let uploaded = t
        .http
        .put(format!(
            "{}{}",
            t.url,
            api(&format!("/runs/{run_id}/artifacts/model/model.bin"))
        ))
        .bearer_auth(&admin)
        .body(vec![7u8; 64])
        .send()
        .await
        .unwrap();
    assert!(uploaded.status().is_success());
    run_id
}

/// A pipeline's `features.materialize` task writes a window online, in a project of its own
/// (the same repository and source), and reports what it wrote.
async fn materialize_from_a_pipeline(t: &TestPlatform) {
    const OTHER: &str = "rides-pipeline";
    t.create_project(OTHER).await;
    let applied = t
        .post(
            &format!("/api/v1/projects/{OTHER}/features/apply"),
            &t.admin(),
            &json!({"files": [{"path": "features.yaml", "content": REPO}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200);
    let yaml = "name: refresh\nparams: [{name: start, type: string}, {name: end, type: string}]\ntasks:\n  \
                - {id: online, kind: features.materialize, start: '{{ params.start }}', end: '{{ params.end }}'}\n";
    let run = run_pipeline(
        t,
        OTHER,
        yaml,
        json!({"start": iso(t0()), "end": iso(t0() + 3 * HOUR)}),
    )
    .await;
    let outputs = first_outputs(&run);
    assert_eq!(
        outputs["views"],
        // The source is one small file: all of its 15 rows are read, the window's latest per
        // driver written.
        json!([{"feature_view": "driver_stats", "entities_written": 3, "rows_scanned": 15}]),
        "{outputs}"
    );
}

fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn materialize_and_serve(t: &TestPlatform) {
    let url = format!("/api/v1/projects/{PROJECT}/features/materialize");
    let window = json!({ "start": iso(t0()), "end": iso(t0() + 3 * HOUR) });
    let first: Value = t.post_json(&url, &t.admin(), &window).await;
    assert_eq!(first["views"][0]["entities_written"], 3, "{first}");
    let again: Value = t.post_json(&url, &t.admin(), &window).await;
    assert_eq!(
        (
            again["views"][0]["rows_scanned"].as_u64(),
            again["views"][0]["intervals_skipped"].as_u64()
        ),
        (Some(0), Some(1))
    );
    // Incremental picks up after T0+3h: the T0+4h rows. Asked for NDJSON, the answer streams
    // progress events and ends with the summary.
    let streamed = t
        .post(
            &url,
            &t.admin(),
            &json!({ "incremental": true, "end": iso(t0() + 5 * HOUR) }),
        )
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(
        streamed.headers()["content-type"],
        "application/x-ndjson",
        "{streamed:?}"
    );
    let text = streamed.text().await.unwrap();
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (done, progress) = events.split_last().unwrap();
    let incremental = &done["done"];
    assert_eq!(incremental["views"][0]["entities_written"], 3, "{text}");
    let last = &progress.last().expect("progress events before the summary")["progress"];
    assert_eq!(
        (
            last["feature_view"].as_str(),
            last["entities_written"].as_u64(),
            last["entities_total"].as_u64(),
            last["rows_scanned"].as_u64(),
            last["rows_total"].as_u64(),
        ),
        (Some("driver_stats"), Some(3), Some(3), Some(15), Some(15)),
        "{text}"
    );
    // A request that fails its checks still gets its HTTP status, not a 200 stream.
    let unknown = t
        .post(
            &url,
            &t.admin(),
            &json!({ "feature_views": ["nope"], "incremental": true, "end": iso(t0()) }),
        )
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let request = json!({
        "features": ["driver_stats:conv_rate", "driver_stats:trips"],
        "entities": { "driver_id": [1001, 1003, 4242] },
    });
    let online: Value = t
        .post_json(
            &format!("/api/v1/projects/{PROJECT}/features/online"),
            &t.admin(),
            &request,
        )
        .await;
    assert_eq!(
        online["metadata"]["feature_names"],
        json!(["driver_id", "conv_rate", "trips"])
    );
    assert_eq!(online["results"][0]["values"], json!([1001, 1003, 4242]));
    let rates = online["results"][1]["values"].as_array().unwrap();
    assert!((rates[0].as_f64().unwrap() - 4.1001).abs() < 1e-4, "{online}");
    assert!(rates[2].is_null());
    assert_eq!(
        online["results"][1]["statuses"],
        json!(["PRESENT", "PRESENT", "NOT_FOUND"])
    );
    assert_eq!(
        online["results"][1]["event_timestamps"][0],
        json!(iso(t0() + 4 * HOUR))
    );
    let missing_key = json!({ "features": ["driver_stats:trips"], "entities": { "rider_id": [1] } });
    let err = t
        .post(
            &format!("/api/v1/projects/{PROJECT}/features/online"),
            &t.admin(),
            &missing_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(err).await.0, 400);
}

/// Two views of the driver source, one with a ttl shorter than the data's age, one without.
const STATE_REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_stats_source
    file: {path: data/driver_stats.parquet}
    created_timestamp_field: created
feature_views:
  - name: trips_forever
    entities: [driver]
    source: driver_stats_source
    schema: [{name: trips, type: int64}]
  - name: trips_short
    entities: [driver]
    source: driver_stats_source
    ttl: 1m
    schema: [{name: trips, type: int64}]
"#;

fn time_of(value: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// The materialization state of each view, as a viewer sees it: never materialized, then the
/// last run with the counts it answered and its freshness against the present; stale past a
/// short ttl, never without one. In a project of its own (the same source).
async fn materialization_states(t: &TestPlatform) {
    const STATE: &str = "rides-state";
    t.create_project(STATE).await;
    let applied = t
        .post(
            &format!("/api/v1/projects/{STATE}/features/apply"),
            &t.admin(),
            &json!({"files": [{"path": "features.yaml", "content": STATE_REPO}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200);
    let viewer = t.token(TokenRole::Viewer, &[STATE]);
    let url = format!("/api/v1/projects/{STATE}/features/materializations");
    let list = |query: &str| {
        let request = t.get(&format!("{url}{query}"), &viewer);
        async move { request.send().await.unwrap() }
    };
    let before: Value = list("").await.json().await.unwrap();
    let never = json!({
        "last_start": null, "last_end": null, "last_run_time": null, "rows_scanned": null,
        "entities_written": null, "materialized_until": null, "freshness_seconds": null,
        "stale": false, "online": true,
    });
    let mut expected = [("trips_forever", Value::Null), ("trips_short", json!(60))].map(|(view, ttl)| {
        let mut state = never.clone();
        state["feature_view"] = json!(view);
        state["ttl_seconds"] = ttl;
        state
    });
    assert_eq!(before["views"], json!(expected), "{before}");

    let end = t0() + 4 * HOUR;
    let done: Value = t
        .post_json(
            &format!("/api/v1/projects/{STATE}/features/materialize"),
            &t.admin(),
            &json!({ "start": iso(t0()), "end": iso(end) }),
        )
        .await;
    let asked_at = chrono::Utc::now().timestamp();
    let after: Value = list("").await.json().await.unwrap();
    let views = after["views"].as_array().unwrap();
    assert_eq!(views.len(), 2, "{after}");
    for (state, written) in views.iter().zip(done["views"].as_array().unwrap()) {
        assert_eq!(state["feature_view"], written["feature_view"], "{after}");
        assert_eq!(
            (
                time_of(&state["last_start"]),
                time_of(&state["last_end"]),
                time_of(&state["materialized_until"]),
            ),
            (Some(t0()), Some(end), Some(end)),
            "{state}"
        );
        assert!(time_of(&state["last_run_time"]).is_some(), "{state}");
        assert_eq!(
            (&state["rows_scanned"], &state["entities_written"]),
            (&written["rows_scanned"], &written["entities_written"]),
            "the counts the run answered with: {state} {written}"
        );
        assert_eq!(written["entities_written"], 3, "{done}");
        let freshness = state["freshness_seconds"].as_i64().unwrap();
        assert!(
            freshness >= asked_at - end / 1_000_000,
            "{freshness}s behind, at least from {} to the request: {state}",
            iso(end)
        );
    }
    // The data is at least an hour old: past a minute's ttl; a view without one is never stale.
    expected[0]["stale"] = json!(false);
    expected[1]["stale"] = json!(true);
    assert_eq!(
        views
            .iter()
            .map(|v| (&v["feature_view"], &v["stale"]))
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|v| (&v["feature_view"], &v["stale"]))
            .collect::<Vec<_>>(),
        "{after}"
    );

    let one: Value = list("?feature_views=trips_short").await.json().await.unwrap();
    assert_eq!(one["views"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["views"][0]["feature_view"], "trips_short");
    let (status, code, _) = error_of(list("?feature_views=trips_short,nope").await).await;
    assert_eq!((status, code.as_str()), (404, "feature_view_not_found"));
    let unknown = t
        .get(
            "/api/v1/projects/no-such-project/features/materializations",
            &t.admin(),
        )
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(unknown).await;
    assert_eq!((status, code.as_str()), (404, "project_not_found"));
}

async fn scenario(backend: Backend) {
    // Server-side errors show in the output of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("error")
        .with_test_writer()
        .try_init();
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    put_source(&t).await;
    repository_lifecycle(&t).await;
    historical(&t).await;
    training_set_from_a_pipeline(&t).await;
    materialize_from_a_pipeline(&t).await;
    materialize_and_serve(&t).await;
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn feature_store_on_embedded_stores() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn feature_store_on_postgres_s3_and_redis() {
    scenario(Backend::Production).await;
}

async fn materialization_state_scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    put_source(&t).await;
    materialization_states(&t).await;
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn materialization_state_and_freshness_per_view() {
    materialization_state_scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn materialization_state_on_postgres_s3_and_redis() {
    materialization_state_scenario(Backend::Production).await;
}

#[tokio::test]
async fn feast_clients_get_feasts_response_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = lathe_tests::embedded_settings(dir.path());
    settings.gateway.feast_project = PROJECT.to_owned();
    let t = TestPlatform::start(settings, dir).await;
    t.create_project(PROJECT).await;
    put_source(&t).await;
    assert_eq!(
        apply(&t, json!([{ "path": "f.yaml", "content": REPO }]), false)
            .await
            .status(),
        200
    );
    let window = json!({ "start": iso(t0()), "end": iso(t0() + 5 * HOUR) });
    t.post(
        &format!("/api/v1/projects/{PROJECT}/features/materialize"),
        &t.admin(),
        &window,
    )
    .send()
    .await
    .unwrap();
    let body = json!({ "feature_service": "driver_activity", "entities": { "driver_id": [1002] }, "full_feature_names": true });
    let answer: Value = t.post_json("/get-online-features", &t.admin(), &body).await;
    assert_eq!(
        answer["metadata"]["feature_names"],
        json!(["driver_id", "driver_stats__conv_rate", "driver_stats__trips"])
    );
    for result in answer["results"].as_array().unwrap() {
        assert_eq!(result["values"].as_array().unwrap().len(), 1);
        assert_eq!(result["statuses"].as_array().unwrap().len(), 1);
        assert_eq!(result["event_timestamps"].as_array().unwrap().len(), 1);
    }
    assert_eq!(answer["results"][2]["values"], json!([42]));
    assert_eq!(answer["results"][2]["statuses"], json!(["PRESENT"]));
    assert_eq!(
        answer["results"][2]["event_timestamps"],
        json!([iso(t0() + 4 * HOUR)])
    );
    t.shutdown().await;
}

const PUSH_REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: trips_batch
    file: {path: data/trips}
  - name: trips_push
    push: {batch_source: trips_batch}
feature_views:
  - name: trips_live
    entities: [driver]
    source: trips_push
    schema: [{name: trips_today, type: int64}, {name: rating, type: float32}]
"#;

async fn push_scenario(t: &TestPlatform) {
    assert_eq!(
        apply(t, json!([{ "path": "push.yaml", "content": PUSH_REPO }]), false)
            .await
            .status(),
        200
    );
    let now = iso(chrono::Utc::now().timestamp_micros() - 60_000_000);
    let push_url = format!("/api/v1/projects/{PROJECT}/features/push");
    let read = |drivers: Value| json!({ "features": ["trips_live:trips_today", "trips_live:rating"], "entities": { "driver_id": drivers } });
    let online_url = format!("/api/v1/projects/{PROJECT}/features/online");

    // A wrong type, then a missing column: 422 naming the column, nothing written.
    let wrong = json!({
        "push_source_name": "trips_push",
        "df": { "driver_id": [3, 4], "event_timestamp": [now, now], "trips_today": [5, "many"], "rating": [4.5, 4.0] },
        "to": "online_and_offline",
    });
    let (status, code, message) = error_of(t.post(&push_url, &t.admin(), &wrong).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (422, "push_schema_mismatch"),
        "{message}"
    );
    assert!(message.contains("column 'trips_today' row 1"), "{message}");
    let missing = json!({
        "push_source_name": "trips_push",
        "df": { "driver_id": [3], "event_timestamp": [now], "trips_today": [5] },
    });
    let (status, _, message) = error_of(t.post(&push_url, &t.admin(), &missing).send().await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(message.contains("missing column 'rating'"), "{message}");
    let nothing: Value = t.post_json(&online_url, &t.admin(), &read(json!([3]))).await;
    assert_eq!(nothing["results"][1]["statuses"], json!(["NOT_FOUND"]));

    // A good push reaches the online store and, as a new Parquet file, the offline store.
    let good = json!({
        "push_source_name": "trips_push",
        "df": { "driver_id": [3, 4], "event_timestamp": [now, now], "trips_today": [5, 7], "rating": [4.5, 4.0] },
        "to": "online_and_offline",
    });
    let pushed: Value = t.post_json(&push_url, &t.admin(), &good).await;
    assert_eq!(pushed["rows"], 2, "{pushed}");
    assert!(
        pushed["offline_file"]
            .as_str()
            .unwrap()
            .starts_with("data/trips/pushed-"),
        "{pushed}"
    );
    let online: Value = t.post_json(&online_url, &t.admin(), &read(json!([4, 3]))).await;
    assert_eq!(online["results"][1]["values"], json!([7, 5]));
    assert_eq!(online["results"][1]["statuses"], json!(["PRESENT", "PRESENT"]));

    let later = iso(chrono::Utc::now().timestamp_micros());
    let response = t
        .historical_csv(
            PROJECT,
            "features=trips_live:trips_today",
            format!("driver_id,event_timestamp\n4,{later}\n"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let frame = read_parquet(&response.bytes().await.unwrap());
    let trips = frame
        .column_by_name("trips_today")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .clone();
    assert_eq!(trips.value(0), 7, "the pushed row is in the offline store");
}

#[tokio::test]
async fn push_is_checked_then_written_online_and_offline() {
    let t = TestPlatform::embedded().await;
    t.create_project(PROJECT).await;
    push_scenario(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn push_on_postgres_s3_and_redis() {
    let Some((t, pg)) = TestPlatform::on(Backend::Production).await else {
        return;
    };
    t.create_project(PROJECT).await;
    push_scenario(&t).await;
    t.shutdown().await;
    drop(pg);
}

/// The shape of the outside probe: one 50 KB anchor named 2,500 times (about 125 MB once
/// expanded) is refused as a bad request with a short error, instead of being expanded and
/// echoed back.
#[tokio::test]
async fn an_alias_amplified_repository_gets_a_short_bad_request() {
    let t = TestPlatform::embedded().await;
    t.create_project(PROJECT).await;
    let content = format!(
        "feature_services:\n  - name: amplified\n    features: [&big {}, {}]\n",
        "v".repeat(50_000),
        vec!["*big"; 2_500].join(", ")
    );
    let response = apply(
        &t,
        json!([{ "path": "amplified.yaml", "content": content }]),
        true,
    )
    .await;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    assert!(body.len() < 4_096, "a {} byte error body", body.len());
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_repository")),
        "{body}"
    );
    assert_eq!(body["type"], "invalid_request", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("amplified.yaml: expands to more than 1048576 bytes through its aliases"),
        "{message}"
    );
    t.shutdown().await;
}

/// A repository with 102 entities (`driver`, `rider_000`..`rider_100`), one source and seven
/// feature views; `view_0`'s description is `description`.
fn many_definitions_repo(description: &str) -> String {
    let mut repo =
        String::from("entities:\n  - name: driver\n    join_keys: [{name: driver_id, type: int64}]\n");
    for i in 0..=100 {
        repo += &format!("  - name: rider_{i:03}\n    join_keys: [{{name: rider_id, type: int64}}]\n");
    }
    repo += "sources:\n  - name: driver_stats_source\n    file: {path: data/driver_stats.parquet}\n    created_timestamp_field: created\n";
    repo += "feature_views:\n";
    for i in 0..7 {
        repo += &format!(
            "  - name: view_{i}\n    entities: [driver]\n    source: driver_stats_source\n    schema:\n      - {{name: trips, type: int64}}\n"
        );
        if i == 0 {
            repo += &format!("    description: {description}\n");
        }
    }
    repo
}

/// Every page of a list, following `next_page_token` from the first page; `path` already has
/// its query (at least `?`). Each page but the last has a token, the last has an empty one.
async fn all_pages(t: &TestPlatform, path: &str, items: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let response = t
            .get(&format!("{path}&page_token={token}"), &t.admin())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        pages.push(page[items].as_array().unwrap().clone());
        token = page["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "{path} never ends");
    }
}

fn keys(pages: &[Vec<Value>], fields: &[&str]) -> Vec<String> {
    pages
        .iter()
        .flatten()
        .map(|item| {
            fields
                .iter()
                .map(|f| item[*f].as_str().unwrap())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

fn sizes(pages: &[Vec<Value>]) -> Vec<usize> {
    pages.iter().map(Vec::len).collect()
}

async fn definition_paging(t: &TestPlatform) {
    for description in ["one", "two", "three", "four", "five"] {
        let files = json!([{ "path": "many.yaml", "content": many_definitions_repo(description) }]);
        let response = apply(t, files, false).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let riders: Vec<String> = (0..=100).map(|i| format!("rider_{i:03}")).collect();
    let views: Vec<String> = (0..7).map(|i| format!("view_{i}")).collect();
    let base = format!("/api/v1/projects/{PROJECT}");

    // Every definition once, by kind then name.
    let mut expected = vec![
        "data_source/driver_stats_source".to_owned(),
        "entity/driver".to_owned(),
    ];
    expected.extend(riders.iter().map(|r| format!("entity/{r}")));
    expected.extend(views.iter().map(|v| format!("feature_view/{v}")));
    let pages = all_pages(
        t,
        &format!("{base}/features/definitions?page_size=3"),
        "definitions",
    )
    .await;
    assert_eq!(sizes(&pages), [vec![3; 36], vec![2]].concat());
    assert_eq!(keys(&pages, &["kind", "name"]), expected);

    let pages = all_pages(
        t,
        &format!("{base}/features/definitions?kind=feature_view&page_size=3"),
        "definitions",
    )
    .await;
    assert_eq!(sizes(&pages), [3, 3, 1]);
    assert_eq!(keys(&pages, &["name"]), views);

    // The default page is 100 long.
    let pages = all_pages(t, &format!("{base}/entities?"), "entities").await;
    assert_eq!(sizes(&pages), [100, 2]);
    let pages = all_pages(t, &format!("{base}/entities?page_size=3"), "entities").await;
    assert_eq!(sizes(&pages), vec![3; 34]);
    let mut entities = vec!["driver".to_owned()];
    entities.extend(riders);
    assert_eq!(keys(&pages, &["name"]), entities);

    // Five applies, five versions, oldest first.
    let history = format!("{base}/features/definitions/feature_view/view_0/history");
    let pages = all_pages(t, &format!("{history}?page_size=2"), "versions").await;
    assert_eq!(sizes(&pages), [2, 2, 1]);
    let versions: Vec<u64> = pages
        .iter()
        .flatten()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    let descriptions: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|v| v["spec"]["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions, ["one", "two", "three", "four", "five"]);

    // Too large a page, and tokens the server did not issue, are refused.
    let definitions = format!("{base}/features/definitions");
    let view_token = {
        let page: Value = t
            .get(
                &format!("{definitions}?kind=feature_view&page_size=1"),
                &t.admin(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["next_page_token"].as_str().unwrap().to_owned()
    };
    for list in [&definitions, &format!("{base}/entities"), &history] {
        let (status, code, message) = error_of(
            t.get(&format!("{list}?page_size=1001"), &t.admin())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_argument"),
            "{list}: {message}"
        );
        assert!(message.contains("page_size"), "{message}");
        let (status, code, message) = error_of(
            t.get(&format!("{list}?page_token=not-a-token"), &t.admin())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_page_token"),
            "{list}: {message}"
        );
    }
    // A token of one list is none of another's.
    for list in [
        format!("{base}/entities"),
        format!("{definitions}?kind=data_source"),
        history,
    ] {
        let separator = if list.contains('?') { '&' } else { '?' };
        let (status, code, message) = error_of(
            t.get(&format!("{list}{separator}page_token={view_token}"), &t.admin())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_page_token"),
            "{list}: {message}"
        );
    }
}

async fn definition_paging_scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    put_source(&t).await;
    definition_paging(&t).await;
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn definition_lists_page_on_the_server() {
    definition_paging_scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn definition_lists_page_on_postgres() {
    definition_paging_scenario(Backend::Production).await;
}
