//! The `lathe` binary as a user runs it: a token from `lathe token create` works against
//! `lathe standalone` on the same data directory; SIGTERM stops it gracefully; bad settings
//! stop start-up with a message naming the key.

use std::time::{Duration, Instant};

mod common;

use common::{create_token, lathe, standalone_with_project, start_standalone, terminate, wait_ready};

/// GETs `url` with the bearer `token` and reads the JSON answer, whatever its status.
async fn get_json(http: &reqwest::Client, url: String, token: &str) -> serde_json::Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn standalone_serves_and_accepts_tokens_from_token_create() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "admin");
    let (child, url) = start_standalone(dir.path());
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{url}/healthz")).send().await.unwrap().status(),
        200
    );
    wait_ready(&http, &url).await;

    let whoami = get_json(&http, format!("{url}/api/v1/whoami"), &token).await;
    assert_eq!(whoami["subject"], "ana");
    assert_eq!(whoami["role"], "admin");
    let created = http
        .post(format!("{url}/api/v1/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "churn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(terminate(child).success(), "graceful shutdown exits 0");

    // Restarted on the same data directory: same key, same data.
    let (child, url) = start_standalone(dir.path());
    wait_ready(&http, &url).await;
    let project = http
        .get(format!("{url}/api/v1/projects/churn"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(project.status(), 200);
    assert!(terminate(child).success());
}

#[test]
fn invalid_settings_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = lathe(dir.path())
        .env("LATHE_GATEWAY__BODY_LIMIT_BYTES", "lots")
        .args(["standalone", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gateway.body_limit_bytes") && stderr.contains("LATHE_GATEWAY__BODY_LIMIT_BYTES"),
        "{stderr}"
    );

    let output = lathe(dir.path())
        .env("LATHE_REGISTRY__DATABASE__URL", "mysql://nope")
        .args(["standalone", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("registry.database.url"), "{stderr}");

    // A misspelt key is refused, not ignored, and the client's own variables are no settings.
    let output = lathe(dir.path())
        .env("LATHE_REGISTRY__DATABSE__URL", "postgres://h/db")
        .env("LATHE_TOKEN", "t")
        .args(["standalone", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown setting `registry.databse.url`")
            && stderr.contains("LATHE_REGISTRY__DATABSE__URL")
            && stderr.contains("did you mean `registry.database.url`?"),
        "{stderr}"
    );
}

/// Runs a client subcommand against `url` and returns its JSON answer.
fn client(dir: &std::path::Path, url: &str, token: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let output = lathe(dir)
        .env("LATHE_URL", url)
        .env("LATHE_TOKEN", token)
        .env("LATHE_PROJECT", "churn")
        .args(args)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let stdout = String::from_utf8(output.stdout).unwrap();
    Ok(if stdout.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&stdout).unwrap()
    })
}

#[tokio::test]
async fn tracking_and_registry_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url, admin) = standalone_with_project(dir.path(), "churn").await;
    let d = dir.path();
    let run_cli = |args: &[&str]| client(d, &url, &admin, args);

    let experiment = run_cli(&["experiments", "create", "xgb", "--tag", "team=growth"]).unwrap();
    let experiment_id = experiment["experiment_id"].as_str().unwrap().to_owned();
    let run = run_cli(&[
        "runs",
        "create",
        "--experiment",
        &experiment_id,
        "--name",
        "first",
    ])
    .unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    run_cli(&[
        "runs",
        "log",
        &run_id,
        "--metric",
        "accuracy=0.95",
        "--metric",
        "loss=0.3@2",
        "--param",
        "solver=lbfgs",
    ])
    .unwrap();

    let file = d.join("model.bin");
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &content).unwrap();
    let uploaded = run_cli(&[
        "runs",
        "upload",
        &run_id,
        file.to_str().unwrap(),
        "--path",
        "model/model.bin",
    ])
    .unwrap();
    assert_eq!(uploaded["size"], 3_000_000);
    let back = d.join("back.bin");
    let downloaded = run_cli(&[
        "runs",
        "download",
        &run_id,
        "model/model.bin",
        "--out",
        back.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(downloaded["sha256"], uploaded["sha256"]);
    assert!(std::fs::read(&back).unwrap() == content);

    let found = run_cli(&[
        "runs",
        "search",
        "--filter",
        "metrics.accuracy > 0.9 and params.solver = 'lbfgs'",
    ])
    .unwrap();
    assert_eq!(found["runs"].as_array().unwrap().len(), 1);
    let bad = run_cli(&["runs", "search", "--filter", "metrics.accuracy >> 0.9"]).unwrap_err();
    assert!(bad.contains("400") && bad.contains("character"), "{bad}");

    let policies =
        r#"[{"stage":"Staging","conditions":[{"metric":{"key":"accuracy","op":">=","value":0.9}}]}]"#;
    run_cli(&["models", "create", "churn-model", "--policies", policies]).unwrap();
    let version = run_cli(&[
        "models",
        "register",
        "churn-model",
        "--run",
        &run_id,
        "--artifact-path",
        "model",
        "--feature-view",
        "drivers",
    ])
    .unwrap();
    assert_eq!(version["version"], 1);
    let promoted = run_cli(&[
        "models",
        "promote",
        "churn-model",
        "1",
        "staging",
        "--reason",
        "passed review",
    ])
    .unwrap();
    assert_eq!(promoted["stage"], "Staging");
    run_cli(&["models", "alias", "churn-model", "champion", "1"]).unwrap();
    let shown = run_cli(&["models", "show", "churn-model"]).unwrap();
    assert_eq!(shown["aliases"]["champion"], 1);
    let audit = run_cli(&["models", "audit", "churn-model"]).unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["reason"], "passed review");

    // A viewer's token can read but not register.
    let viewer = create_token(d, "viewer");
    let denied = client(
        d,
        &url,
        &viewer,
        &[
            "models",
            "register",
            "churn-model",
            "--run",
            &run_id,
            "--artifact-path",
            "model",
        ],
    )
    .unwrap_err();
    assert!(denied.contains("403"), "{denied}");
    assert!(client(d, &url, &viewer, &["models", "list"]).is_ok());
    assert!(terminate(child).success());
}

/// A tiny driver-stats source: drivers 1 and 2, rows at 00:00 and 01:00 on 2026-01-01.
fn write_source(path: &std::path::Path) {
    use std::sync::Arc;

    use arrow::array::{Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    let t0 = 1_767_225_600_000_000i64;
    let hour = 3_600_000_000i64;
    let schema = Arc::new(Schema::new(vec![
        Field::new("driver_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("conv_rate", DataType::Float32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 1, 2])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                t0,
                t0,
                t0 + hour,
                t0 + hour,
            ])),
            Arc::new(Float32Array::from(vec![0.1, 0.2, 0.3, 0.4])),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Runs `lathe ARGS` against `url` as `token` in the project `churn`: whether it succeeded,
/// its stdout and its stderr.
fn run_in_churn(d: &std::path::Path, url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = lathe(d)
        .env("LATHE_URL", url)
        .env("LATHE_TOKEN", token)
        .env("LATHE_PROJECT", "churn")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `lathe features historical` of `features` for the entity rows `csv`, read back.
fn training_set_via_cli(
    d: &std::path::Path,
    url: &str,
    token: &str,
    csv: &str,
    features: &str,
) -> arrow::array::RecordBatch {
    let entities = d.join("entities.csv");
    std::fs::write(&entities, csv).unwrap();
    let out = d.join("training.parquet");
    let args = [
        "features",
        "historical",
        "--entities",
        entities.to_str().unwrap(),
        "--features",
        features,
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, wrote, err) = run_in_churn(d, url, token, &args);
    let rows = csv.lines().count() - 1;
    assert!(
        ok && wrote.contains(&format!("wrote {rows} rows")),
        "{wrote}{err}"
    );
    let file = std::fs::File::open(&out).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .next()
        .unwrap()
}

#[tokio::test]
async fn feature_repository_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = create_token(d, "admin");
    write_source(&d.join("objects/features/data/stats.parquet"));
    let repo = d.join("repo");
    std::fs::create_dir_all(repo.join("views")).unwrap();
    std::fs::write(
        repo.join("entities.yaml"),
        "entities:\n  - name: driver\n    join_keys: [{name: driver_id, type: int64}]\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("views/stats.yml"),
        "sources:\n  - name: stats_src\n    file: {path: data/stats.parquet}\nfeature_views:\n  - name: stats\n    entities: [driver]\n    source: stats_src\n    schema: [{name: conv_rate, type: float32}]\n",
    )
    .unwrap();
    let (child, url) = start_standalone(d);
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    let created = http
        .post(format!("{url}/api/v1/projects"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "churn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let run_text = |args: &[&str]| run_in_churn(d, &url, &admin, args);
    let repo_arg = repo.to_str().unwrap();
    let (ok, plan, err) = run_text(&["features", "plan", repo_arg]);
    assert!(ok, "{err}");
    assert!(
        plan.contains("+ create feature_view stats v1") && plan.contains("run `lathe features apply`"),
        "{plan}"
    );
    let (ok, applied, err) = run_text(&["features", "apply", repo_arg]);
    assert!(ok && applied.contains("applied 3 changes"), "{applied}{err}");
    let (_, again, _) = run_text(&["features", "plan", repo_arg]);
    assert!(again.contains("no changes (3 definitions up to date)"), "{again}");

    let batch = training_set_via_cli(
        d,
        &url,
        &admin,
        "driver_id,event_timestamp\n1,2026-01-01T00:30:00Z\n2,2026-01-01T01:00:00Z\n",
        "stats:conv_rate",
    );
    let rates = batch.column_by_name("conv_rate").unwrap();
    let rates = rates
        .as_any()
        .downcast_ref::<arrow::array::Float32Array>()
        .unwrap();
    assert_eq!((rates.value(0), rates.value(1)), (0.1, 0.4));

    let (ok, materialized, err) = run_text(&[
        "features",
        "materialize",
        "--start",
        "2026-01-01T00:00:00Z",
        "--end",
        "2026-01-02T00:00:00Z",
    ]);
    assert!(
        ok && materialized.contains("\"entities_written\": 2"),
        "{materialized}{err}"
    );
    // Progress goes to stderr: the scan first, and the last report of the writes.
    assert!(err.contains("stats: scanned 0 of "), "{err}");
    assert!(err.contains("wrote 2 of 2 entities (100%)"), "{err}");

    // A broken repository is refused with its file path, and nothing changes.
    std::fs::write(
        repo.join("views/stats.yml"),
        "feature_views:\n  - name: stats\n    entities: [nobody]\n",
    )
    .unwrap();
    let (ok, _, err) = run_text(&["features", "apply", repo_arg]);
    assert!(!ok && err.contains("views/stats.yml"), "{err}");
    assert!(terminate(child).success());
}

/// Trips of drivers 1 and 2 every 10 minutes from 2026-01-01T00:00Z for two hours, the fare
/// of trip `k` being `k` (driver 1 takes the even trips).
fn write_trips(path: &std::path::Path) {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};

    let t0 = 1_767_225_600_000_000i64;
    let minute = 60_000_000i64;
    let trips: Vec<i64> = (0..12).collect();
    let batch = RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter_values(trips.iter().map(|k| 1 + k % 2))) as arrow::array::ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                trips.iter().map(|k| t0 + k * 10 * minute),
            )),
        ),
        (
            "trip_id",
            Arc::new(Int64Array::from_iter_values(trips.iter().copied())),
        ),
        (
            "fare",
            Arc::new(Float64Array::from_iter_values(trips.iter().map(|k| *k as f64))),
        ),
    ])
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test]
async fn aggregated_features_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The events come in through `lathe features ingest`, checked against the view.
    write_trips(&d.join("trips.parquet"));
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("trips.yaml"),
        "entities:\n  - name: driver\n    join_keys: [{name: driver_id, type: int64}]\nsources:\n  - name: trips\n    file: {path: trips/}\nfeature_views:\n  - name: driver_trips\n    entities: [driver]\n    source: trips\n    aggregations:\n      - {column: fare, function: sum, window: 1h}\n      - {column: trip_id, function: count, window: 1d}\n",
    )
    .unwrap();
    let (child, url, admin) = standalone_with_project(d, "churn").await;
    let run_text = |args: &[&str]| run_in_churn(d, &url, &admin, args);
    let repo_arg = repo.to_str().unwrap();
    let (ok, applied, err) = run_text(&["features", "apply", repo_arg]);
    assert!(ok && applied.contains("applied 3 changes"), "{applied}{err}");
    let trips = d.join("trips.parquet");
    let (ok, ingested, err) = run_text(&["features", "ingest", trips.to_str().unwrap(), "--source", "trips"]);
    assert!(
        ok && ingested.contains("\"rows\": 12") && ingested.contains("\"driver_trips\""),
        "{ingested}{err}"
    );

    // At 01:05 the hour's window (minute tiles) starts at 00:06: driver 1's trips at 00:20,
    // 00:40 and 01:00 (fares 2 + 4 + 6); the day's window counts its four trips so far.
    let batch = training_set_via_cli(
        d,
        &url,
        &admin,
        "driver_id,event_timestamp\n1,2026-01-01T01:05:00Z\n2,2026-01-01T00:00:00Z\n",
        "driver_trips:fare_sum_1h,driver_trips:trip_id_count_1d",
    );
    let sums = batch.column_by_name("fare_sum_1h").unwrap();
    let sums = sums
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    let counts = batch.column_by_name("trip_id_count_1d").unwrap();
    let counts = counts
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    assert_eq!((sums.value(0), counts.value(0)), (12.0, 4));
    assert!(
        arrow::array::Array::is_null(sums, 1),
        "driver 2's first trip is at 00:10"
    );
    assert_eq!(counts.value(1), 0);

    let (ok, materialized, err) = run_text(&[
        "features",
        "materialize",
        "--start",
        "2026-01-01T00:00:00Z",
        "--end",
        "2026-01-01T02:00:00Z",
    ]);
    assert!(
        ok && materialized.contains("\"entities_written\": 2"),
        "{materialized}{err}"
    );
    assert!(terminate(child).success());
}

/// The files under `dir` whose name holds `#`: the staging files of multipart uploads that
/// have not finished, as the local object store writes them.
fn staging_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains('#'))
            {
                found.push(path);
            }
        }
    }
    found
}

/// `lathe standalone` killed with SIGKILL in the middle of writes and of an upload: after a
/// restart on the same data directory every write it acknowledged is there, the interrupted
/// upload is not visible, and the upload sweep removes what it left on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write_and_leaves_no_partial_upload() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = create_token(d, "admin");
    let (child, url) = start_standalone(d);
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    let api = format!("{url}/api/v1/projects/crash");
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{api}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let created = http
        .post(format!("{url}/api/v1/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "crash" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let experiment: serde_json::Value = post("/experiments", serde_json::json!({ "name": "e" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run: serde_json::Value = post(
        "/runs",
        serde_json::json!({ "experiment_id": experiment["experiment_id"] }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    // An upload that sends 9 MiB (more than one part) and then stalls, as a client would whose
    // network died.
    let first_part = futures::stream::iter(
        (0..9).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 1024 * 1024]))),
    );
    let stalled = futures::StreamExt::chain(first_part, futures::stream::pending());
    let upload = tokio::spawn(
        http.put(format!("{api}/runs/{run_id}/artifacts/big.bin"))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stalled))
            .send(),
    );
    // Writes, each acknowledged before the next, until the process dies under them.
    let mut acknowledged = Vec::new();
    let objects = d.join("objects");
    for i in 0..2_000 {
        let batch = serde_json::json!({ "params": [{ "key": format!("p{i}"), "value": i.to_string() }] });
        let response = post(&format!("/runs/{run_id}/log-batch"), batch).await.unwrap();
        assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
        acknowledged.push(i);
        if acknowledged.len() >= 50 && !staging_files(&objects).is_empty() {
            break;
        }
    }
    let leftovers = staging_files(&objects);
    assert!(!leftovers.is_empty(), "the upload never reached the object store");
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        upload.await.unwrap().is_err(),
        "the stalled upload died with the process"
    );
    // The kill left the upload's staging file; make it older than the start-up sweep's grace
    // period, as it would be for an upload that was abandoned a while ago.
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for file in &leftovers {
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }

    let (child, url) = start_standalone(d);
    wait_ready(&http, &url).await;
    let api = format!("{url}/api/v1/projects/crash");
    let run = get_json(&http, format!("{api}/runs/{run_id}"), &token).await;
    for i in &acknowledged {
        assert_eq!(
            run["params"][format!("p{i}")],
            i.to_string(),
            "p{i} was acknowledged: {run}"
        );
    }
    let listed = get_json(&http, format!("{api}/runs/{run_id}/artifacts"), &token).await;
    assert_eq!(listed["artifacts"], serde_json::json!([]), "{listed}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while leftovers.iter().any(|f| f.exists()) {
        assert!(Instant::now() < deadline, "the sweep left {leftovers:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(child);
}

#[tokio::test]
async fn a_client_beside_its_standalone_signs_its_own_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, url, _) = standalone_with_project(d, "churn").await;
    let marker = d.join("standalone.url");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), url);
    let run = |url: &str| {
        lathe(d)
            .env("LATHE_URL", url)
            .env("LATHE_DATA_DIR", d)
            .env("LATHE_PROJECT", "churn")
            .args(["models", "list"])
            .output()
            .unwrap()
    };
    let output = run(&url);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("no token given; signed a 5-minute admin token")
            .count(),
        1,
        "{stderr}"
    );
    // Another URL, even on this machine, is not the standalone's: a token stays required.
    let elsewhere = url.replace("127.0.0.1", "localhost");
    let output = run(&elsewhere);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("no token"),
        "{stderr}"
    );
    assert!(terminate(child).success());
    assert!(!marker.exists(), "the marker goes with the standalone");
    let output = run(&url);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no token"));
}
