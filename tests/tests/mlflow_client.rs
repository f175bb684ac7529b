//! The real `mlflow` Python client against a Lathe gateway (issue 18): a data scientist's
//! workflow (`tests/mlflow/workflow.py`) run with nothing but `MLFLOW_TRACKING_URI` and
//! `MLFLOW_TRACKING_TOKEN` set, on both backends, and what it logged read back through Lathe's
//! own API: one data model, two faces.
//!
//! The client comes from PyPI into `.tools/mlflow-venv` (`scripts/mlflow/install-venv.sh`, a
//! no-op once installed). Without PyPI the test skips, or fails when backends are required (CI).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lathe_tests::{Backend, TestPlatform, TokenRole};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The project the MLflow surface works in: the only one the token names.
const PROJECT: &str = "mlflow-client";

/// The workflow's stages, all of which run. `LATHE_TEST_MLFLOW_STAGES` (a comma list) picks others.
const STAGES: &str = "tracking,artifacts,models";

/// Sections of those stages left out (`LATHE_TEST_MLFLOW_SKIP`, a comma list of section names;
/// empty runs everything): none; every section of the workflow passes against Lathe.
const SKIPPED: &str = "";

fn stages() -> String {
    std::env::var("LATHE_TEST_MLFLOW_STAGES").unwrap_or_else(|_| STAGES.to_owned())
}

fn skipped() -> String {
    std::env::var("LATHE_TEST_MLFLOW_SKIP").unwrap_or_else(|_| SKIPPED.to_owned())
}

/// Longest the workflow may take; it takes seconds.
const WORKFLOW_TIMEOUT: Duration = Duration::from_secs(600);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// The Python of the venv with `mlflow`, installed by the first test that asks for it, or why
/// it could not be installed.
fn mlflow_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(install_mlflow).clone()
}

fn install_mlflow() -> Result<PathBuf, String> {
    let root = workspace_root();
    let tools = root.join(".tools");
    std::fs::create_dir_all(&tools).map_err(|err| format!("cannot create {}: {err}", tools.display()))?;
    // nextest runs each test in a process of its own: a file lock keeps two from building the
    // venv at once (the OnceLock only covers the threads of one process).
    let lock_path = tools.join("mlflow-venv.lock");
    let lock =
        File::create(&lock_path).map_err(|err| format!("cannot open {}: {err}", lock_path.display()))?;
    lock.lock()
        .map_err(|err| format!("cannot lock {}: {err}", lock_path.display()))?;
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(root.join("scripts/mlflow/install-venv.sh"))
        .current_dir(&root)
        .output()
        .map_err(|err| format!("cannot run scripts/mlflow/install-venv.sh: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "scripts/mlflow/install-venv.sh failed ({}) after {:.0?}:\n{}\n{}",
            output.status,
            started.elapsed(),
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    eprintln!(
        "mlflow venv ready in {:.1?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stdout).trim()
    );
    Ok(tools.join("mlflow-venv/bin/python"))
}

/// The workflow's exit status and its output (stdout and stderr interleaved).
struct WorkflowRun {
    success: bool,
    output: String,
}

impl WorkflowRun {
    /// The value of the `NAME=value` line the workflow printed.
    fn printed(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.output
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("the workflow printed no {name}=; output:\n{}", self.output))
            .trim()
            .to_owned()
    }
}

/// Runs `tests/mlflow/workflow.py --stages <stages>` against `url` as MLflow users do: the
/// gateway and the token in the environment, and nothing else. Retries are off so that a 5xx
/// fails at once instead of after the client's four minutes of backoff.
fn run_workflow(python: &Path, url: &str, token: &str, stages: &str) -> WorkflowRun {
    let root = workspace_root();
    let log = tempfile::NamedTempFile::new().expect("log file");
    // One open file for both streams, so that their lines interleave as they were written.
    let stdout = log.as_file().try_clone().expect("log for stdout");
    let stderr = log.as_file().try_clone().expect("log for stderr");
    let mut child = Command::new(python)
        .arg(root.join("tests/mlflow/workflow.py"))
        .args(["--stages", stages, "--skip", &skipped(), "--keep-going"])
        .current_dir(&root)
        .env("MLFLOW_TRACKING_URI", url)
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .env_remove("MLFLOW_EXPERIMENT_ID")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start the workflow");
    let deadline = Instant::now() + WORKFLOW_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the workflow") {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().expect("kill the workflow");
            child.wait().expect("reap the workflow");
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(log.path()).expect("read the workflow's output");
    match status {
        Some(status) => WorkflowRun {
            success: status.success(),
            output: format!("{output}\n(exit: {status})"),
        },
        None => WorkflowRun {
            success: false,
            output: format!("{output}\n(killed after {WORKFLOW_TIMEOUT:?})"),
        },
    }
}

async fn get_json(t: &TestPlatform, path: &str, token: &str) -> Value {
    let response = t.get(path, token).send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {path} is not JSON ({err}): {text}"))
}

/// The bytes of the workflow's `weights.bin`: byte `i` is `(31 i + 7) mod 256`.
fn weights_bin() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 12345_usize)
        .map(|i| u8::try_from((i * 31 + 7) % 256).expect("below 256"))
        .collect()
}

async fn mlflow_workflow_on(backend: Backend) {
    let python = match tokio::task::spawn_blocking(mlflow_python)
        .await
        .expect("the install thread")
    {
        Ok(python) => python,
        Err(why) => {
            let _skipped: Option<()> = lathe_testkit::unavailable("the mlflow client from PyPI", &why);
            return;
        }
    };
    let Some((t, _pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let stages = stages();
    let ran = |stage: &str| stages.split(',').any(|s| s.trim() == stage);
    // An editor tracks and registers; moving a version to Production and deleting a model
    // take Lathe's admin role, as through /api/v1. Either token names only the project.
    let role = if ran("models") {
        TokenRole::Admin
    } else {
        TokenRole::Editor
    };
    let token = t.token(role, &[PROJECT]);

    let (url, jwt, list) = (t.url.clone(), token.clone(), stages.clone());
    let run = tokio::task::spawn_blocking(move || run_workflow(&python, &url, &jwt, &list))
        .await
        .expect("the workflow thread");
    assert!(
        run.success,
        "the mlflow workflow ({stages}) failed on {backend:?}:\n{}",
        run.output
    );
    println!("{}", run.output);
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    if ran("tracking") {
        run_is_visible_in_lathe(&t, &run, &viewer).await;
    }
    if ran("artifacts") {
        artifact_is_visible_in_lathe(&t, &run, &viewer).await;
    }
    t.shutdown().await;
}

/// The run the client logged, as Lathe's own API shows it.
async fn run_is_visible_in_lathe(t: &TestPlatform, run: &WorkflowRun, viewer: &str) {
    let run_id = run.printed("RUN_ID");
    let experiment_id = run.printed("EXPERIMENT_ID");
    let lathe_run = get_json(t, &format!("/api/v1/projects/{PROJECT}/runs/{run_id}"), viewer).await;
    assert_eq!(lathe_run["run_id"], run_id.as_str(), "{lathe_run}");
    assert_eq!(lathe_run["experiment_id"], experiment_id.as_str(), "{lathe_run}");
    assert_eq!(lathe_run["name"], "lr-C0.5", "{lathe_run}");
    assert_eq!(lathe_run["status"], "FINISHED", "{lathe_run}");
    assert_eq!(
        lathe_run["user_id"].as_str().map(str::is_empty),
        Some(false),
        "{lathe_run}"
    );
    assert_eq!(lathe_run["params"]["C"], "0.5", "{lathe_run}");
    assert_eq!(lathe_run["params"]["penalty"], "l2", "{lathe_run}");
    assert_eq!(lathe_run["tags"]["team"], "retention", "{lathe_run}");
    let loss = lathe_run["latest_metrics"]
        .as_array()
        .and_then(|metrics| metrics.iter().find(|metric| metric["key"] == "loss"))
        .unwrap_or_else(|| panic!("no latest loss: {lathe_run}"));
    assert_eq!(
        (loss["value"].as_f64(), loss["step"].as_i64()),
        (Some(0.4), Some(2)),
        "{lathe_run}"
    );
    let history = get_json(
        t,
        &format!("/api/v1/projects/{PROJECT}/runs/{run_id}/metrics/loss/history"),
        viewer,
    )
    .await;
    let mut steps: Vec<(i64, f64)> = history["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("no metrics: {history}"))
        .iter()
        .map(|m| {
            (
                m["step"].as_i64().unwrap_or(-1),
                m["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    steps.sort_by_key(|(step, _)| *step);
    assert_eq!(steps, [(0, 0.9), (1, 0.6), (2, 0.4)], "{history}");
}

/// The binary artifact the client uploaded, downloaded through Lathe's API.
async fn artifact_is_visible_in_lathe(t: &TestPlatform, run: &WorkflowRun, viewer: &str) {
    let artifact_run = run.printed("ARTIFACT_RUN_ID");
    let response = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/runs/{artifact_run}/artifacts/model/weights.bin"),
            viewer,
        )
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.expect("artifact bytes");
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        hex::encode(Sha256::digest(weights_bin())),
        "weights.bin through /api/v1 is what the mlflow client uploaded ({} bytes)",
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mlflow_client_workflow_on_embedded_backends() {
    mlflow_workflow_on(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mlflow_client_workflow_on_postgres_and_s3() {
    mlflow_workflow_on(Backend::Production).await;
}
