//! The quickstart's churn story with every service in its own process, as a distributed
//! deployment runs it: `lathe serve` for the registry, the feature-service, the orchestrator,
//! the monitor, serving and the gateway, two `lathe worker`s doing every task, each service on
//! its own PostgreSQL database and S3 prefix, Redis as the online store, and every process
//! exporting its spans over OTLP to a receiver this test runs. The story goes through the
//! gateway's REST API with tokens of the least role each call needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use lathe::churn_data::{self as dataset, Regime};
use lathe_testkit::{PgDatabase, S3Location};
use object_store::ObjectStoreExt;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::{Value, json};

const LATHE: &str = env!("CARGO_BIN_EXE_lathe");
const FEATURES_YAML: &str = include_str!("../../../examples/churn/features/churn.yaml");
const MODEL_YAML: &str = include_str!("../../../examples/churn/model.yaml");
const MONITOR_YAML: &str = include_str!("../../../examples/churn/monitor.yaml");
const PIPELINE_YAML: &str = include_str!("../../../examples/churn/pipeline.yaml");
const PROJECT: &str = "churn";
const SOURCE: &str = "driver_hourly_stats_source";
const HOUR_MICROS: i64 = 3_600_000_000;
/// Rows of the training set: four labels for each of the 500 drivers.
const TRAINING_ROWS: u64 = 2000;
const SERVICES: [&str; 5] = ["registry", "features", "orchestrator", "monitor", "serving"];

// ---- the OTLP receiver ---------------------------------------------------------------------

/// One span as the receiver got it: which process sent it, and its trace.
#[derive(Clone)]
struct ReceivedSpan {
    service: String,
    trace_id: String,
    name: String,
}

/// An OTLP/gRPC trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::codegen::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map_or_else(String::new, |v| {
                    if let AnyValue::StringValue(s) = v {
                        s.clone()
                    } else {
                        format!("{v:?}")
                    }
                });
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push(ReceivedSpan {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        name: span.name,
                    });
                }
            }
        }
        self.spans.lock().unwrap().extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Serves on an ephemeral loopback port for the rest of the test; its `http://` address.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{address}")
    }

    fn in_trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let spans = self.spans.lock().unwrap();
        spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the processes -------------------------------------------------------------------------

/// The running processes, killed if the test ends without stopping them.
#[derive(Default)]
struct Processes {
    children: Vec<(&'static str, Child)>,
}

impl Processes {
    fn exited(&mut self) -> Option<(&'static str, ExitStatus)> {
        self.children
            .iter_mut()
            .find_map(|(name, child)| Some((*name, child.try_wait().ok()??)))
    }

    /// SIGTERM to each in turn, the gateway first, waiting for it to exit (and so to flush
    /// its spans); every exit status.
    fn stop(&mut self) -> Vec<(&'static str, ExitStatus)> {
        let mut stopped = Vec::new();
        for (name, mut child) in self.children.drain(..) {
            let signalled = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(signalled.success(), "cannot signal {name}");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    stopped.push((name, status));
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{name} did not stop within 30 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        stopped
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the deployment's pieces live, and the one configuration file every process reads.
struct Deployment {
    dir: tempfile::TempDir,
    config: PathBuf,
    otlp: String,
    url: String,
    /// The orchestrator's object store: its URL and settings, to read training sets.
    orchestrator_objects: (String, lathe_common::config::ObjectStoreSettings),
    /// Holds `churn/labels.parquet`, the pipeline's labels.
    task_root: PathBuf,
}

impl Deployment {
    fn new(databases: &[PgDatabase], s3: &S3Location, otlp: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let task_root = dir.path().join("tasks");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&task_root).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        // The pipeline's trainer is the lathe binary run under that name.
        std::os::unix::fs::symlink(LATHE, bin.join("churn-trainer")).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let grpc: BTreeMap<&str, u16> = SERVICES.iter().map(|s| (*s, free_port())).collect();
        let endpoint = |service: &str| format!("http://127.0.0.1:{}", grpc[service]);
        let http_port = free_port();
        let settings = &s3.settings;
        let objects = |service: &str| {
            json!({
                "url": format!("{}/{service}", s3.url),
                "endpoint": settings.endpoint.clone().unwrap_or_default(),
                "region": "us-east-1",
                "access_key_id": settings.access_key_id.clone().unwrap_or_default(),
                "secret_access_key": settings.secret_access_key.as_ref().map(|s| s.expose().to_owned()),
                "allow_http": true,
            })
        };
        let service = |name: &str, database: &PgDatabase| {
            json!({
                "grpc_addr": format!("127.0.0.1:{}", grpc[name]),
                "database": {"url": database.url},
                "object_store": objects(name),
                "registry_endpoint": endpoint("registry"),
            })
        };
        let with = |mut base: Value, extra: Value| {
            if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
                base.extend(extra.clone());
            }
            base
        };
        let redis = std::env::var("LATHE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let config = json!({
            "telemetry": {"log_filter": "warn"},
            "auth": {"jwt_secret": "microservices-test-secret-of-at-least-32-bytes"},
            "registry": service("registry", &databases[0]),
            "features": with(service("features", &databases[1]), json!({
                "monitor_endpoint": endpoint("monitor"),
                "online_store": {"url": redis, "key_prefix": format!("lathe_ms_{unique}")},
            })),
            "orchestrator": with(service("orchestrator", &databases[2]), json!({
                "features_endpoint": endpoint("features"),
                "monitor_endpoint": endpoint("monitor"),
                "sweep_interval_ms": 200,
                "worker": {
                    "enabled": false,
                    "heartbeat_ms": 200,
                    "task_root": task_root,
                    "gateway_url": format!("http://127.0.0.1:{http_port}"),
                    "env": {"PATH": path},
                },
            })),
            "monitor": with(service("monitor", &databases[3]), json!({
                "orchestrator_endpoint": endpoint("orchestrator"),
                "features_endpoint": endpoint("features"),
            })),
            "serving": with(service("serving", &databases[4]), json!({
                "features_endpoint": endpoint("features"),
                "monitor_endpoint": endpoint("monitor"),
            })),
            "gateway": {
                "http_addr": format!("127.0.0.1:{http_port}"),
                "registry_endpoint": endpoint("registry"),
                "features_endpoint": endpoint("features"),
                "orchestrator_endpoint": endpoint("orchestrator"),
                "monitor_endpoint": endpoint("monitor"),
                "serving_endpoint": endpoint("serving"),
            },
        });
        let config_path = dir.path().join("lathe.toml");
        std::fs::write(&config_path, toml_of(&config)).unwrap();
        Deployment {
            config: config_path,
            otlp: otlp.to_owned(),
            url: format!("http://127.0.0.1:{http_port}"),
            orchestrator_objects: (format!("{}/orchestrator", s3.url), s3.settings.clone()),
            task_root,
            dir,
        }
    }

    /// `lathe` with only the configuration file, the OTLP endpoint and its own data directory.
    fn command(&self, data_dir: &str) -> Command {
        let data_dir = self.dir.path().join("data").join(data_dir);
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut command = Command::new(LATHE);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LATHE_CONFIG", &self.config)
            .env("LATHE_DATA_DIR", &data_dir)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp)
            .current_dir(&data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    fn token(&self, role: &str) -> String {
        let output = self
            .command("tokens")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::piped())
            .args(["token", "create", "--subject", role, "--role", role])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The six services, ready once the gateway is (its readiness asks every service's
    /// health), then the two workers. `None` when a service exited first: a port picked free
    /// was taken by another program meanwhile.
    ///
    /// The workers start once the orchestrator has migrated its database: processes that
    /// migrate one fresh PostgreSQL database at the same time can fail on a duplicate
    /// `pg_type` row (the migrations take no lock).
    async fn start(&self) -> Option<Processes> {
        let mut processes = Processes::default();
        // Stopped in this order: the gateway first, then the workers, the services last.
        for (name, args) in [
            ("gateway", &["serve", "gateway"][..]),
            ("serving", &["serve", "serving"][..]),
            ("monitor", &["serve", "monitor"][..]),
            ("orchestrator", &["serve", "orchestrator"][..]),
            ("features", &["serve", "features"][..]),
            ("registry", &["serve", "registry"][..]),
        ] {
            let child = self.command(name).args(args).spawn().unwrap();
            processes.children.push((name, child));
        }
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((name, status)) = processes.exited() {
                eprintln!("{name} exited at start ({status}); trying other ports");
                return None;
            }
            if http
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(Instant::now() < deadline, "the gateway never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (at, name) in [(1, "w1"), (2, "w2")] {
            let child = self
                .command(name)
                .args(["worker", "--name", name])
                .spawn()
                .unwrap();
            processes.children.insert(at, (name, child));
        }
        Some(processes)
    }
}

/// The configuration as TOML: tables of strings, numbers and booleans.
fn toml_of(config: &Value) -> String {
    fn scalar(value: &Value) -> String {
        match value {
            Value::String(s) => format!("{s:?}"),
            Value::Object(map) => format!(
                "{{ {} }}",
                map.iter()
                    .map(|(k, v)| format!("{k:?} = {}", scalar(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => value.to_string(),
        }
    }
    fn table(out: &mut String, name: &str, map: &serde_json::Map<String, Value>) {
        out.push_str(&format!("[{name}]\n"));
        for (key, value) in map {
            if !value.is_object() && !value.is_null() {
                out.push_str(&format!("{key} = {}\n", scalar(value)));
            }
        }
        for (key, value) in map {
            if let Some(inner) = value.as_object() {
                table(out, &format!("{name}.{key}"), inner);
            }
        }
    }
    let mut out = String::new();
    for (name, value) in config.as_object().unwrap() {
        table(&mut out, name, value.as_object().unwrap());
    }
    out
}

// ---- the REST client -----------------------------------------------------------------------

/// The gateway's REST API for the project, with a token per role.
struct Api {
    http: reqwest::Client,
    url: String,
    admin: String,
    editor: String,
    viewer: String,
}

impl Api {
    fn project(&self, path: &str) -> String {
        format!("{}/api/v1/projects/{PROJECT}{path}", self.url)
    }

    /// Sends and checks the status; the answer as JSON (null when empty).
    async fn call(&self, request: reqwest::RequestBuilder, expected: u16) -> Value {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, expected, "{body}");
        if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::String(body))
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.call(self.http.get(self.project(path)).bearer_auth(&self.viewer), 200)
            .await
    }

    async fn post(&self, token: &str, path: &str, body: Value, expected: u16) -> Value {
        self.call(
            self.http.post(self.project(path)).bearer_auth(token).json(&body),
            expected,
        )
        .await
    }

    async fn ingest(&self, batch: &RecordBatch) -> u64 {
        let answer = self
            .call(
                self.http
                    .post(self.project(&format!("/features/sources/{SOURCE}/ingest")))
                    .bearer_auth(&self.editor)
                    .header(reqwest::header::CONTENT_TYPE, "application/vnd.apache.parquet")
                    .body(dataset::parquet(batch).unwrap()),
                201,
            )
            .await;
        count(&answer["rows"]).unwrap()
    }

    /// Materializes (editor); the entities written, summed over the views.
    async fn materialize(&self, body: Value) -> u64 {
        let done = self.post(&self.editor, "/features/materialize", body, 200).await;
        done["views"]
            .as_array()
            .unwrap_or_else(|| panic!("{done}"))
            .iter()
            .filter_map(|v| count(&v["entities_written"]))
            .sum()
    }

    /// The run once it has ended; it must have succeeded.
    async fn finished_run(&self, run_id: &str) -> Value {
        let run = eventually(
            &format!("run {run_id} to end"),
            Duration::from_secs(90),
            || async {
                let run = self.get(&format!("/pipeline-runs/{run_id}")).await;
                matches!(run["state"].as_str(), Some("success" | "failed" | "cancelled")).then_some(run)
            },
        )
        .await;
        assert_eq!(run["state"], "success", "{run:#}");
        run
    }

    /// The training set of the point-in-time join for `drivers` at `at` (viewer): driver →
    /// the churn_model features.
    async fn offline_features(&self, drivers: &[i64], at: i64) -> BTreeMap<i64, Vec<f64>> {
        let frame: Vec<String> = std::iter::once("driver_id,event_timestamp".to_owned())
            .chain(drivers.iter().map(|d| format!("{d},{}", rfc3339(at))))
            .collect();
        let response = self
            .http
            .post(self.project("/features/historical"))
            .query(&[("feature_service", "churn_model")])
            .bearer_auth(&self.viewer)
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(frame.join("\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let rows = training_rows(&response.bytes().await.unwrap());
        rows.into_iter()
            .map(|r| (r.driver, vec![r.conv_rate, r.acc_rate, r.avg_daily_trips as f64]))
            .collect()
    }
}

/// A count or version in an answer: protobuf's JSON writes 64-bit integers as text.
fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.parse().ok())
}

fn outputs_of(run: &Value, task_id: &str) -> Value {
    let task = run["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["task_id"] == task_id)
        .unwrap_or_else(|| panic!("run has no task {task_id}: {run:#}"));
    task["outputs_json"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| task["outputs"].clone())
}

/// The name of the worker each task of `run` ran on (`w1@host…` → `w1`).
fn workers_of(run: &Value) -> Vec<String> {
    run["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let worker = t["worker"].as_str().unwrap_or_default();
            worker.split('@').next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// Polls `probe` every 200 ms until it answers, failing after `limit`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// One row of a training set.
struct TrainingRow {
    driver: i64,
    at_micros: i64,
    conv_rate: f64,
    acc_rate: f64,
    avg_daily_trips: i64,
}

fn training_rows(parquet: &[u8]) -> Vec<TrainingRow> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(parquet),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("the training set has no column {name}: {:?}", batch.schema()))
                .clone()
        };
        // Whatever its unit and zone, as microseconds since the epoch.
        let times = arrow::compute::cast(
            &column("event_timestamp"),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .unwrap();
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let (ids, conv, acc, trips) = (
            column("driver_id"),
            column("conv_rate"),
            column("acc_rate"),
            column("avg_daily_trips"),
        );
        let (ids, conv, acc, trips) = (
            ids.as_primitive::<Int64Type>(),
            conv.as_primitive::<Float64Type>(),
            acc.as_primitive::<Float64Type>(),
            trips.as_primitive::<Int64Type>(),
        );
        for row in 0..batch.num_rows() {
            assert!(
                !(conv.is_null(row) || acc.is_null(row) || trips.is_null(row)),
                "no features for driver {} at row {row}",
                ids.value(row)
            );
            rows.push(TrainingRow {
                driver: ids.value(row),
                at_micros: times.value(row),
                conv_rate: conv.value(row),
                acc_rate: acc.value(row),
                avg_daily_trips: trips.value(row),
            });
        }
    }
    rows
}

/// Sends one prediction per driver through the deployment inside one fresh monitor window,
/// then checks the window once closed and every prediction is logged; the check's answer.
async fn traffic(api: &Api, window_seconds: i64) -> Value {
    let window_ms = window_seconds * 1000;
    // Start just after a window opens, so the whole burst falls in it.
    let now_ms = now_micros() / 1000;
    let window_start = now_ms - now_ms.rem_euclid(window_ms) + window_ms;
    tokio::time::sleep(Duration::from_millis((window_start + 100 - now_ms) as u64)).await;
    let drivers: Vec<i64> = (dataset::FIRST_DRIVER..dataset::FIRST_DRIVER + dataset::DRIVERS).collect();
    let mut sent = 0;
    for chunk in drivers.chunks(50) {
        let answer = api
            .post(
                &api.viewer,
                "/predict/churn",
                json!({"entities": {"driver_id": chunk}}),
                200,
            )
            .await;
        sent += answer["predictions"].as_array().map_or(0, Vec::len) as u64;
    }
    assert_eq!(sent, dataset::DRIVERS as u64);
    assert!(
        now_micros() / 1000 < window_start + window_ms,
        "the burst outlasted its window: the check below would count fewer rows"
    );
    let window = rfc3339(window_start * 1000);
    let closed = (window_start + window_ms + 1500 - now_micros() / 1000).max(0);
    tokio::time::sleep(Duration::from_millis(closed as u64)).await;
    eventually("the window's logged rows", Duration::from_secs(30), || async {
        let result = api
            .post(
                &api.editor,
                "/monitors/churn-drift/check",
                json!({"window": window}),
                200,
            )
            .await;
        (count(&result["rows"]) == Some(sent)).then_some(result)
    })
    .await
}

fn drifted_columns(result: &Value) -> BTreeSet<String> {
    result["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["drifted"] == true)
        .filter_map(|c| c["column"].as_str().map(str::to_owned))
        .collect()
}

/// The version `run` registered: in Staging by the gate, alias champion, with its lineage.
async fn check_registered(api: &Api, run: &Value) -> u64 {
    let run_id = run["run_id"].as_str().unwrap();
    let version = count(&outputs_of(run, "register")["version"]).expect("register's version");
    let shown = api.get(&format!("/models/churn/versions/{version}")).await;
    assert!(
        matches!(shown["stage"].as_str(), Some("Staging" | "STAGE_STAGING")),
        "{shown:#}"
    );
    let lineage = &shown["lineage"];
    assert_eq!(
        lineage["training_dataset"],
        outputs_of(run, "training_set")["path"],
        "{shown:#}"
    );
    assert_eq!(lineage["orchestrator_run"], run_id, "{shown:#}");
    assert_eq!(lineage["feature_service"], "churn_model", "{shown:#}");
    let model = api.get("/models/churn").await;
    assert_eq!(count(&model["aliases"]["champion"]), Some(version), "{model:#}");
    version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_churn_story_runs_on_separate_processes() {
    let began = Instant::now();
    let step = |text: String| eprintln!("[{:5.1} s] {text}", began.elapsed().as_secs_f64());
    let mut databases = Vec::new();
    for _ in SERVICES {
        let Some(database) = PgDatabase::create().await else {
            return;
        };
        databases.push(database);
    }
    let Some(s3) = S3Location::fresh() else { return };
    let collector = Collector::default();
    let otlp = collector.start().await;
    let mut started = None;
    for _ in 0..3 {
        let deployment = Deployment::new(&databases, &s3, &otlp);
        if let Some(processes) = deployment.start().await {
            started = Some((deployment, processes));
            break;
        }
    }
    let (deployment, mut processes) =
        started.expect("the deployment could not bind its ports in three attempts");
    let api = Api {
        http: reqwest::Client::new(),
        url: deployment.url.clone(),
        admin: deployment.token("admin"),
        editor: deployment.token("editor"),
        viewer: deployment.token("viewer"),
    };
    step(format!("six services and two workers ready at {}", api.url));

    // 1. The project, the feature repository, three weeks of history, the labels.
    api.call(
        api.http
            .post(format!("{}/api/v1/projects", api.url))
            .bearer_auth(&api.admin)
            .json(&json!({"name": PROJECT})),
        201,
    )
    .await;
    let applied = api
        .post(
            &api.editor,
            "/features/apply",
            json!({"files": [{"path": "churn.yaml", "content": FEATURES_YAML}], "dry_run": false}),
            200,
        )
        .await;
    let created: BTreeSet<&str> = applied["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["action"] == "create")
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in ["driver", SOURCE, "driver_hourly_stats", "churn_model"] {
        assert!(created.contains(name), "{name} not created: {applied:#}");
    }
    let now = now_micros();
    let anchor = now - now.rem_euclid(HOUR_MICROS);
    let history = dataset::history(anchor);
    assert_eq!(api.ingest(&history).await, history.num_rows() as u64);
    let labels = deployment.task_root.join("churn").join("labels.parquet");
    std::fs::create_dir_all(labels.parent().unwrap()).unwrap();
    std::fs::write(&labels, dataset::parquet(&dataset::labels(anchor)).unwrap()).unwrap();
    step(format!(
        "applied, ingested {} rows, labels written",
        history.num_rows()
    ));

    // 2. Materialize: the latest stats of every driver go online.
    let written = api
        .materialize(json!({
            "start": rfc3339(anchor - dataset::HOURS * HOUR_MICROS),
            "end": rfc3339(now),
            "feature_views": ["driver_hourly_stats"],
        }))
        .await;
    assert_eq!(written, dataset::DRIVERS as u64);
    step(format!("materialized {written} drivers"));

    // 3. The model and its gate, the monitor, the pipeline: a run on the two workers.
    let model: Value = serde_yaml::from_str(MODEL_YAML).unwrap();
    api.post(&api.admin, "/models", model, 201).await;
    let monitors: Value = serde_yaml::from_str(MONITOR_YAML).unwrap();
    let mut monitor = monitors["monitors"][0].clone();
    assert_eq!(monitor["name"], "churn-drift");
    monitor.as_object_mut().unwrap().remove("name");
    api.call(
        api.http
            .put(api.project("/monitors/churn-drift"))
            .bearer_auth(&api.editor)
            .json(&monitor),
        200,
    )
    .await;
    api.post(
        &api.admin,
        "/pipelines/apply",
        json!({"files": [{"path": "pipeline.yaml", "content": PIPELINE_YAML}], "dry_run": false}),
        200,
    )
    .await;
    let triggered = api
        .post(&api.editor, "/pipelines/retrain-churn/runs", json!({}), 201)
        .await;
    let first_run = api
        .finished_run(triggered["run_id"].as_str().expect("a run id"))
        .await;
    let training_set = outputs_of(&first_run, "training_set");
    assert_eq!(
        count(&training_set["rows"]),
        Some(TRAINING_ROWS),
        "{training_set:#}"
    );
    let (objects_url, objects_settings) = &deployment.orchestrator_objects;
    let location = training_set["path"].as_str().unwrap();
    let key = location
        .strip_prefix(objects_url.as_str())
        .map_or(location, |k| k.trim_start_matches('/'));
    let store =
        lathe_common::storage::open(objects_url, objects_settings, "orchestrator.object_store").unwrap();
    let parquet = store
        .get(&object_store::path::Path::from(key))
        .await
        .unwrap_or_else(|e| panic!("training set {location}: {e}"))
        .bytes()
        .await
        .unwrap();
    let rows = training_rows(&parquet);
    assert_eq!(rows.len() as u64, TRAINING_ROWS);
    // Point-in-time correctness: a label reads the stats of the hour holding its time.
    for row in rows.iter().step_by(rows.len() / 20) {
        let hour = row.at_micros - row.at_micros.rem_euclid(HOUR_MICROS);
        let offset = (anchor - hour) / HOUR_MICROS;
        let expected = dataset::stats(row.driver, offset, Regime::Usual);
        assert_eq!(
            (row.conv_rate, row.acc_rate, row.avg_daily_trips),
            (expected.conv_rate, expected.acc_rate, expected.avg_daily_trips),
            "driver {} at {} (hour offset {offset})",
            row.driver,
            rfc3339(row.at_micros)
        );
    }

    step(format!(
        "run {} succeeded on {:?}; {} training rows, point in time",
        first_run["run_id"],
        workers_of(&first_run),
        rows.len()
    ));

    // 4. Registered with its lineage, promoted by the gate, champion.
    let first = check_registered(&api, &first_run).await;
    step(format!("version {first}: Staging, champion, lineage"));

    // 5. Deployed; the online features of a prediction equal the offline join for now.
    let deployed = api
        .post(
            &api.editor,
            "/deployments",
            json!({"name": "churn", "model": "churn", "alias": "champion", "monitor": "churn-drift"}),
            201,
        )
        .await;
    assert_eq!(
        count(&deployed["serving"]["version"]),
        Some(first),
        "{deployed:#}"
    );
    let drivers = [1001_i64, 1002, 1003, 1250, 1500];
    let trace_id = format!("{:032x}", u128::from(std::process::id()) << 64 | now as u128);
    let answer = api
        .call(
            api.http
                .post(api.project("/predict/churn"))
                .bearer_auth(&api.viewer)
                .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
                .json(&json!({"entities": {"driver_id": drivers}, "include_features": true})),
            200,
        )
        .await;
    let offline = api.offline_features(&drivers, now_micros()).await;
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), drivers.len(), "{answer:#}");
    for (driver, prediction) in drivers.iter().zip(predictions) {
        let online: Vec<f64> = prediction["features"]
            .as_array()
            .unwrap_or_else(|| panic!("{prediction:#}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // Serving answers the model's inputs, float32.
        let expected: Vec<f64> = offline[driver].iter().map(|v| f64::from(*v as f32)).collect();
        assert_eq!(online, expected, "driver {driver}");
        let latest = dataset::stats(*driver, 0, Regime::Usual);
        assert_eq!(offline[driver][0], latest.conv_rate, "driver {driver}");
    }

    // 6. Usual traffic: no drift. A shifted hour: drift, an alert, a retrain, a new version.
    let window_seconds = api.get("/monitors/churn-drift").await["window_seconds"]
        .as_i64()
        .unwrap();
    step("deployed; online features equal the offline join for now".to_owned());
    let calm = traffic(&api, window_seconds).await;
    assert_eq!(calm["drifted"], false, "{calm:#}");
    step(format!(
        "usual window {}: {} rows, no drift",
        calm["window_start"], calm["rows"]
    ));
    let shifted = dataset::hour(now_micros(), -1, Regime::Shifted);
    assert_eq!(api.ingest(&shifted).await, dataset::DRIVERS as u64);
    let written = api
        .materialize(json!({"incremental": true, "end": rfc3339(now_micros())}))
        .await;
    assert_eq!(written, dataset::DRIVERS as u64);
    let drifted = traffic(&api, window_seconds).await;
    assert_eq!(drifted["drifted"], true, "{drifted:#}");
    assert_eq!(
        drifted_columns(&drifted),
        BTreeSet::from(["avg_daily_trips".to_owned(), "conv_rate".to_owned()]),
        "{drifted:#}"
    );
    let window = drifted["window_start"].as_str().unwrap().to_owned();
    step(format!(
        "shifted window {window}: {} rows, drifted {:?}",
        drifted["rows"],
        drifted_columns(&drifted)
    ));
    let retrain = eventually(
        "the alert to start retrain-churn",
        Duration::from_secs(30),
        || async {
            let listed = api.get("/alerts?monitor=churn-drift").await;
            let alert = listed["alerts"]
                .as_array()?
                .iter()
                .find(|a| a["window_start"].as_str() == Some(window.as_str()))?
                .clone();
            let run = alert["runs"]
                .as_array()?
                .iter()
                .find(|r| r["pipeline"] == "retrain-churn")?;
            run["run_id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
        },
    )
    .await;
    let second_run = api.finished_run(&retrain).await;
    let second = check_registered(&api, &second_run).await;
    assert!(second > first, "v{second} after v{first}");
    eventually(
        "the deployment to serve the new champion",
        Duration::from_secs(30),
        || async {
            let deployment = api.get("/deployments/churn").await;
            (count(&deployment["serving"]["version"]) == Some(second)).then_some(())
        },
    )
    .await;
    step(format!(
        "alert → run {retrain} on {:?} → version {second}, now served",
        workers_of(&second_run)
    ));
    let mut by = workers_of(&first_run);
    by.extend(workers_of(&second_run));
    let by: BTreeSet<String> = by.into_iter().collect();
    // Which worker claims a task is a race between the two (SKIP LOCKED): only that the tasks
    // ran on them, and on nothing else, is certain.
    assert!(
        !by.is_empty() && by.iter().all(|w| w == "w1" || w == "w2"),
        "the tasks ran on {by:?}, not on the two workers"
    );

    if let Some((name, status)) = processes.exited() {
        panic!("{name} exited during the story: {status}");
    }

    // 7. Stopped, every process flushes its spans: the predict's trace went through the
    // gateway, serving and the feature-service.
    for (name, status) in processes.stop() {
        assert!(status.success(), "{name} exited with {status} on SIGTERM");
    }
    step("every process stopped on SIGTERM, exit status 0".to_owned());
    let spans = collector.in_trace(&trace_id);
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["lathe-feature-service", "lathe-gateway", "lathe-serving"]),
        "the trace's spans: {:?}",
        spans
            .iter()
            .map(|s| format!("{}: {}", s.service, s.name))
            .collect::<Vec<_>>()
    );
}
