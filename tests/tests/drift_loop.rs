//! The loop the monitor closes, through the gateway on both backends: a reference set, rows
//! logged into windows that have closed, the sweeper checks them on its own; a drifted window
//! raises one alert, seen in the API, as Prometheus gauges on the monitor's `/metrics`, as a
//! signed webhook call (the receiver fails the first try: it is retried), and as a run of the
//! pipeline the monitor names; drift that flaps over the next windows raises an alert per
//! window but starts no second run within the cooldown. Then the pipeline kinds that drive a
//! monitor: `monitor.set_reference` and `monitor.check`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, RecordBatch, StringArray};
use lathe_common::auth::Role;
use lathe_tests::{Backend, TestPlatform};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROJECT: &str = "loop";
const MONITOR: &str = "churn-drift";
const SECRET: &str = "webhook-secret";
/// Ten-minute windows.
const WINDOW_MS: i64 = 600_000;

fn api(path: &str) -> String {
    format!("/api/v1/projects/{PROJECT}{path}")
}

async fn expect_json(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Polls `probe` until it answers `Some` (bounded).
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on a loopback port: answers 500 to the first `failures` requests and
/// 200 after, recording every request.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/drift", listener.local_addr().unwrap());
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                let Ok(n) = socket.read(&mut chunk).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buffer.extend_from_slice(&chunk[..n]);
                if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|line| line.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buffer.len() < head_end + length {
                let Ok(n) = socket.read(&mut chunk).await else {
                    break;
                };
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[head_end..].to_vec();
            let count = {
                let mut log = log.lock().unwrap();
                log.push(Received { headers, body });
                log.len()
            };
            let status = if count <= failures {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
                )
                .await;
        }
    });
    (url, received)
}

/// A seeded standard normal stream (LCG and Box–Muller).
fn normals(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos())
        .collect()
}

fn segments(n: usize, skewed: bool) -> Vec<&'static str> {
    (0..n)
        .map(|i| if skewed { "c" } else { ["a", "b", "c"][i % 3] })
        .collect()
}

fn reference_parquet() -> Vec<u8> {
    let batch = RecordBatch::try_from_iter([
        (
            "x",
            Arc::new(Float64Array::from(normals(1, 2000))) as arrow::array::ArrayRef,
        ),
        ("segment", Arc::new(StringArray::from(segments(2000, false)))),
    ])
    .unwrap();
    lathe_tests::parquet_bytes(&batch)
}

/// 300 rows in the window starting at `start`: like the reference, or shifted by three
/// standard deviations with every segment `c`.
fn rows(start: i64, seed: u64, drifted: bool) -> Value {
    let shift = if drifted { 3.0 } else { 0.0 };
    let xs = normals(seed, 300);
    let segs = segments(300, drifted);
    Value::Array(
        xs.iter()
            .zip(segs)
            .enumerate()
            .map(|(i, (x, segment))| {
                json!({
                    "x": x + shift,
                    "segment": segment,
                    "prediction": if x + shift > 0.0 { 1 } else { 0 },
                    "prediction_id": format!("{start}-{i}"),
                    "timestamp": start + 1000 * i as i64,
                })
            })
            .collect(),
    )
}

const RETRAIN_YAML: &str = "name: retrain\ntasks:\n  - {id: train, kind: command, argv: ['true']}\n";

async fn alerts(t: &TestPlatform, token: &str) -> Vec<Value> {
    let listed = expect_json(t.get(&api(&format!("/alerts?monitor={MONITOR}")), token), 200).await;
    listed["alerts"].as_array().cloned().unwrap_or_default()
}

async fn runs_of(t: &TestPlatform, token: &str, pipeline: &str) -> Vec<Value> {
    let listed = expect_json(
        t.get(&api(&format!("/pipeline-runs?pipeline={pipeline}")), token),
        200,
    )
    .await;
    listed["runs"].as_array().cloned().unwrap_or_default()
}

async fn drift_loop(backend: Backend) {
    let Some((t, _pg)) = TestPlatform::on_with(backend, |s| {
        s.monitor.sweep_interval_ms = 100;
        s.monitor.retry_base_ms = 100;
    })
    .await
    else {
        return;
    };
    t.create_project(PROJECT).await;
    let editor = t.token(Role::Editor, &[PROJECT]);
    let admin = t.admin();
    let (hook_url, received) = receiver(1).await;

    let files = json!({"files": [{"path": "retrain.yaml", "content": RETRAIN_YAML}], "dry_run": false});
    expect_json(t.post(&api("/pipelines/apply"), &admin, &files), 200).await;
    let monitor = json!({
        "checks": [{"column": "x", "threshold": 0.3}, {"column": "segment"}],
        "window_seconds": WINDOW_MS / 1000,
        "lateness_seconds": 1,
        "webhook": {"url": hook_url, "secret": SECRET},
        "retrain_pipeline": "retrain",
        "retrain_cooldown_seconds": 3600,
    });
    expect_json(
        t.put(&api(&format!("/monitors/{MONITOR}")), &editor, &monitor),
        200,
    )
    .await;
    let reference = t
        .http
        .put(format!(
            "{}{}",
            t.url,
            api(&format!("/monitors/{MONITOR}/reference"))
        ))
        .bearer_auth(&editor)
        .header(reqwest::header::CONTENT_TYPE, "application/vnd.apache.parquet")
        .body(reference_parquet());
    let reference = expect_json(reference, 200).await;
    assert_eq!(reference["rows"], 2000);

    // Five closed windows, hours ago: the first like the reference, then four drifted.
    let now = chrono::Utc::now().timestamp_millis();
    let first = (now - 3 * 3_600_000).div_euclid(WINDOW_MS) * WINDOW_MS;
    let log = |start: i64, seed: u64, drifted: bool| {
        t.post(
            &api(&format!("/monitors/{MONITOR}/log")),
            &editor,
            &rows(start, seed, drifted),
        )
    };
    let logged = expect_json(log(first, 10, false), 200).await;
    assert_eq!(logged["rows"], 300);
    expect_json(log(first + WINDOW_MS, 11, true), 200).await;

    // The sweeper checks both windows unasked; the drifted one raises an alert.
    let raised = eventually("the first alert", async || {
        let found = alerts(&t, &editor).await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let alert = &raised[0];
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let drifted: Vec<&str> = alert["drifted_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(drifted, ["x", "segment"], "{alert}");
    let windows = eventually("both windows checked", async || {
        let listed = expect_json(t.get(&api(&format!("/monitors/{MONITOR}/windows")), &editor), 200).await;
        let windows = listed["windows"].as_array().cloned().unwrap_or_default();
        (windows.len() == 2).then_some(windows)
    })
    .await;
    assert_eq!(windows[0]["drifted"], false, "{}", windows[0]);
    assert_eq!(windows[1]["drifted"], true, "{}", windows[1]);
    assert_eq!(windows[1]["alert_id"], alert_id.as_str());

    // The webhook: refused once, then delivered, signed with the secret.
    let alert = eventually("the webhook delivered", async || {
        alerts(&t, &editor)
            .await
            .into_iter()
            .find(|a| a["webhook"] == "delivered")
    })
    .await;
    assert_eq!(alert["webhook_attempts"], 2, "{alert}");
    let calls = received.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(
            call.header("x-lathe-signature"),
            Some(lathe_monitor::webhook::signature(SECRET, &call.body).as_str())
        );
        assert_eq!(call.header("x-lathe-delivery"), Some(alert_id.as_str()));
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(body["event"], "drift_alert");
        assert_eq!(body["monitor"], MONITOR);
        assert_eq!(body["drifted_columns"], json!(["x", "segment"]));
    }

    // The pipeline the monitor names ran once, started by the alert.
    let run = eventually("the retraining run", async || {
        let alert = alerts(&t, &editor).await.into_iter().next()?;
        let run_id = alert["runs"][0]["run_id"].as_str()?.to_owned();
        (!run_id.is_empty()).then_some(run_id)
    })
    .await;
    let runs = runs_of(&t, &editor, "retrain").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], run.as_str());
    assert!(
        runs[0]["trigger"].as_str().unwrap().contains(MONITOR),
        "{}",
        runs[0]
    );

    // The gauges on the monitor's /metrics.
    let metrics_url = format!("{}/metrics", t.grpc_endpoint("monitor"));
    let exported = eventually("the drift gauges", async || {
        let text = t.http.get(&metrics_url).send().await.ok()?.text().await.ok()?;
        text.contains(&format!(
            r#"lathe_drift_detected{{monitor="{MONITOR}",project="{PROJECT}"}} 1"#
        ))
        .then_some(text)
    })
    .await;
    assert!(
        exported.contains(&format!(
            r#"lathe_drift_alerts_total{{monitor="{MONITOR}",project="{PROJECT}"}} 1"#
        )),
        "{exported}"
    );
    assert!(
        exported.contains(&format!(
            r#"lathe_drift_column_detected{{column="segment",method="js_distance",monitor="{MONITOR}",project="{PROJECT}"}} 1"#
        )),
        "{exported}"
    );
    assert!(
        exported.contains(&format!(
            r#"lathe_drift_score{{column="x",method="wasserstein",monitor="{MONITOR}",project="{PROJECT}"}}"#
        )),
        "{exported}"
    );

    // Flapping: three more drifted windows, three more alerts, no second run in the cooldown.
    for (i, seed) in [12, 13, 14].into_iter().enumerate() {
        expect_json(log(first + (2 + i as i64) * WINDOW_MS, seed, true), 200).await;
    }
    let all = eventually("four alerts, each told to the orchestrator", async || {
        let found = alerts(&t, &editor).await;
        (found.len() == 4
            && found
                .iter()
                .all(|a| a["runs"].as_array().is_some_and(|r| !r.is_empty())))
        .then_some(found)
    })
    .await;
    let started: Vec<&Value> = all
        .iter()
        .filter(|a| a["runs"][0]["run_id"].as_str().is_some_and(|id| !id.is_empty()))
        .collect();
    assert_eq!(started.len(), 1, "one run per cooldown: {all:?}");
    assert_eq!(runs_of(&t, &editor, "retrain").await.len(), 1);
    assert!(
        all.iter()
            .all(|a| a["runs"][0]["pipeline"] == "retrain"
                && a["trigger_error"].as_str().unwrap_or("").is_empty()),
        "{all:?}"
    );
}

#[tokio::test]
async fn drift_alerts_reach_the_api_gauges_webhook_and_orchestrator_on_sqlite_and_local_files() {
    drift_loop(Backend::Embedded).await;
}

#[tokio::test]
async fn drift_alerts_reach_the_api_gauges_webhook_and_orchestrator_on_postgres_and_s3() {
    drift_loop(Backend::Production).await;
}

/// A pipeline sets a monitor's reference from a dataset and checks its latest window.
async fn monitor_tasks(backend: Backend) {
    let Some((t, _pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let editor = t.token(Role::Editor, &[PROJECT]);
    let admin = t.admin();
    let dataset = t.data_dir.path().join("training.parquet");
    std::fs::write(&dataset, reference_parquet()).unwrap();
    let monitor = json!({"checks": [{"column": "x"}, {"column": "segment"}], "window_seconds": 600});
    expect_json(
        t.put(&api(&format!("/monitors/{MONITOR}")), &editor, &monitor),
        200,
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    let start = now.div_euclid(WINDOW_MS) * WINDOW_MS;
    expect_json(
        t.post(
            &api(&format!("/monitors/{MONITOR}/log")),
            &editor,
            &rows(start, 5, true),
        ),
        200,
    )
    .await;
    let yaml = format!(
        "name: watch\ntasks:\n  - id: reference\n    kind: monitor.set_reference\n    monitor: {MONITOR}\n    dataset: {}\n  - id: check\n    kind: monitor.check\n    depends_on: [reference]\n    monitor: {MONITOR}\n    fail_on_alert: false\n",
        dataset.display()
    );
    let files = json!({"files": [{"path": "watch.yaml", "content": yaml}], "dry_run": false});
    expect_json(t.post(&api("/pipelines/apply"), &admin, &files), 200).await;
    let run = expect_json(t.post(&api("/pipelines/watch/runs"), &editor, &json!({})), 201).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = eventually("the run's end", async || {
        let run = expect_json(t.get(&api(&format!("/pipeline-runs/{run_id}")), &editor), 200).await;
        matches!(run["state"].as_str(), Some("success" | "failed")).then_some(run)
    })
    .await;
    assert_eq!(done["state"], "success", "{done}");
    let tasks = done["tasks"].as_array().unwrap();
    let outputs = |id: &str| {
        tasks
            .iter()
            .find(|task| task["task_id"] == id)
            .map(|task| serde_json::from_str::<Value>(task["outputs_json"].as_str().unwrap()).unwrap())
            .unwrap()
    };
    assert_eq!(outputs("reference")["rows"], 2000, "{done}");
    let check = outputs("check");
    assert_eq!(check["drifted"], true, "{check}");
    assert_eq!(check["rows"], 300);
    assert!(!check["alert_id"].as_str().unwrap().is_empty());
    let reference = expect_json(
        t.get(&api(&format!("/monitors/{MONITOR}/reference")), &editor),
        200,
    )
    .await;
    assert_eq!(reference["rows"], 2000);
}

#[tokio::test]
async fn pipelines_set_a_monitors_reference_and_check_it_on_sqlite_and_local_files() {
    monitor_tasks(Backend::Embedded).await;
}

#[tokio::test]
async fn pipelines_set_a_monitors_reference_and_check_it_on_postgres_and_s3() {
    monitor_tasks(Backend::Production).await;
}
