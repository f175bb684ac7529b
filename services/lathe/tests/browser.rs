//! The web UI in a real browser: `lathe quickstart` seeds the churn story and serves it, this
//! test adds what the scenarios need through the REST API (a model whose gate refuses, a metric
//! history to chart, a pipeline run just triggered), then `services/gateway/ui/e2e/browser.mjs`
//! drives headless Chromium through the pages and must exit 0.
//!
//! Needs the UI's npm packages (`scripts/ui.sh deps`, for playwright-core) and Debian's
//! Chromium (`scripts/install-tools.sh`; `LATHE_CHROMIUM` names another binary).
//! `LATHE_UI_SCREENSHOTS=docs/ui` also saves the main pages as PNGs there (relative to the
//! repository's root).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

/// How long the quickstart may take to tell its story and serve.
const QUICKSTART_READY: Duration = Duration::from_secs(600);
const PROJECT: &str = "churn";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `lathe quickstart`, serving, its output in a file.
fn start_quickstart(dir: &Path) -> common::Background {
    let mut command = common::lathe(dir);
    command
        .args(["quickstart", "--data-dir"])
        .arg(dir.join("qs"))
        .args(["--http-addr", "127.0.0.1:0"]);
    common::Background::start(
        "lathe quickstart",
        command,
        dir.join("quickstart.log"),
        "Serving until Ctrl-C.",
        QUICKSTART_READY,
    )
}

/// The first `http://…` the quickstart's output names that contains `marker`.
fn url_containing(quickstart: &common::Background, marker: &str) -> Option<String> {
    quickstart
        .output()
        .split_whitespace()
        .find(|word| word.starts_with("http://") && word.contains(marker))
        .map(str::to_owned)
}

/// The REST API as the test's admin.
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>, want: u16) -> Value {
        let mut request = self
            .http
            .request(
                method.clone(),
                format!("{}/api/v1/projects/{PROJECT}{path}", self.url),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, want, "{method} {path}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None, 200).await
    }

    async fn post(&self, path: &str, body: Value, want: u16) -> Value {
        self.call(reqwest::Method::POST, path, Some(body), want).await
    }

    /// Uploads `content` as the artifact `path` of run `run_id`.
    async fn upload(&self, run_id: &str, path: &str, content: &'static str) {
        let response = self
            .http
            .put(format!(
                "{}/api/v1/projects/{PROJECT}/runs/{run_id}/artifacts/{path}",
                self.url
            ))
            .bearer_auth(&self.token)
            .body(content)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "upload {path}: {}",
            response.text().await.unwrap()
        );
    }

    /// The status of GET `url` (a path from the server's root).
    async fn status(&self, url: &str) -> u16 {
        self.root(url).await.status().as_u16()
    }

    /// The JSON answer to GET `url` (a path from the server's root), which must succeed.
    async fn get_root(&self, url: &str) -> Value {
        let response = self.root(url).await;
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn root(&self, url: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{url}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

/// The names the browser types into the forms that create things: each refused one first.
fn forms() -> Value {
    json!({
        "bad_project": "Bad Name",
        "project": "made-in-browser",
        "bad_experiment": "runs/of/today",
        "experiment": "from-the-browser",
        "model": "half-saved",
    })
}

/// An SVG drawn by hand, a CSV with a quoted separator: what the run page previews.
const PREVIEW_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" viewBox="0 0 120 80"><polyline points="0,80 30,30 60,20 120,5" fill="none" stroke="#2563eb" stroke-width="3"/></svg>"##;
const PREVIEW_CSV: &str = "driver_id,conv_rate,note\n1001,0.52,\"late, then fine\"\n1002,0.31,steady\n";

/// What the browser scenarios check, from the data the quickstart seeded and this test added.
async fn seed_and_describe(api: &Api, sign_in_link: Option<String>) -> Value {
    let found = api
        .post(
            "/runs/search",
            json!({ "order_by": ["attributes.start_time ASC"] }),
            200,
        )
        .await;
    let runs = found["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2, "the quickstart should leave 2 runs: {found}");
    let experiment_id = runs[0]["experiment_id"].as_str().unwrap().to_owned();
    let experiment = api.get(&format!("/experiments/{experiment_id}")).await;

    // The quickstart logs each metric once; a short history makes the run page draw a chart
    // (and the compare page overlay two).
    let losses = [[0.69, 0.41, 0.22], [0.69, 0.35, 0.18]];
    for (run, values) in runs.iter().zip(losses) {
        let metrics: Vec<Value> = values
            .iter()
            .enumerate()
            .map(|(step, value)| json!({ "key": "loss", "value": value, "step": step }))
            .collect();
        let run_id = run["run_id"].as_str().unwrap();
        api.post(
            &format!("/runs/{run_id}/log-batch"),
            json!({ "metrics": metrics }),
            204,
        )
        .await;
    }

    // A model whose gate no quickstart run meets, with one version registered from a run.
    api.post(
        "/models",
        json!({
            "name": "gated",
            "policies": [{
                "stage": "Staging",
                "conditions": [{ "metric": { "key": "accuracy", "op": ">", "value": 0.99 } }],
            }],
        }),
        201,
    )
    .await;
    let gated = api
        .post(
            "/models/gated/versions",
            json!({ "run_id": runs[1]["run_id"], "artifact_path": "model" }),
            201,
        )
        .await;
    assert_eq!(gated["stage"], "None", "{gated}");

    // Files the run page previews: the trainer's metrics.json is there already.
    let preview_run = runs[0]["run_id"].as_str().unwrap();
    api.upload(preview_run, "previews/curve.svg", PREVIEW_SVG).await;
    api.upload(preview_run, "previews/sample.csv", PREVIEW_CSV).await;

    let churn = api.get("/models/churn").await;
    let v1 = churn["latest_versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap_or_else(|| panic!("model churn has no version 1: {churn}"));
    assert_eq!(v1["stage"], "Archived", "{churn}");
    assert_eq!(churn["aliases"]["champion"], 2, "{churn}");

    let monitor = "churn-drift";
    let windows = api.get(&format!("/monitors/{monitor}/windows")).await;
    let drifted = windows["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["drifted"] == true)
        .unwrap_or_else(|| panic!("no window of {monitor} drifted: {windows}"));
    let columns = drifted["columns"].as_array().unwrap();
    let verdict = |drift: bool| -> Vec<&str> {
        columns
            .iter()
            .filter(|c| c["drifted"] == drift)
            .map(|c| c["column"].as_str().unwrap())
            .collect()
    };

    // The deployment's count, read while nothing else predicts.
    let deployment = api.get("/deployments/churn").await;
    let predictions = deployment["stats"]["champion"]["predictions_total"].clone();
    assert!(
        predictions.as_u64().is_some_and(|n| n >= 1000),
        "the quickstart's 1,000+ predictions are not counted: {deployment}"
    );

    // The feature view behind the churn model: its history, and the versions trained on it.
    let view = "driver_hourly_stats";
    let history = api
        .get(&format!("/features/definitions/feature_view/{view}/history"))
        .await;
    let trained_on = api.get(&format!("/lineage?feature_view={view}")).await;
    let mut versions: Vec<u64> = trained_on["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["model"] == "churn")
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        [1, 2],
        "churn's versions trained on {view}: {trained_on}"
    );

    // Last, so the browser finds the run still going or just finished.
    let pipeline_run = api.post("/pipelines/retrain-churn/runs", json!({}), 201).await;
    let tasks: Vec<Value> = pipeline_run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].clone())
        .collect();
    // The graph the run page must draw: an edge per declared dependency.
    let definition = api.get("/pipelines/retrain-churn").await;
    let edges: Vec<Value> = definition["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            let to = t["id"].clone();
            t["depends_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |from| json!([from, to]))
                .collect::<Vec<_>>()
        })
        .collect();

    // The runs table and the run page show a metric's latest value: the last step's.
    let shown_run = |(run, values): (&Value, [f64; 3])| {
        json!({
            "run_id": run["run_id"],
            "name": run["name"],
            "shown": {
                "seed": run["params"]["seed"],
                "learner": run["params"]["learner"],
                "loss": values[2].to_string(),
            },
        })
    };
    json!({
        "project": PROJECT,
        "subject": "e2e",
        "experiment": { "experiment_id": experiment_id, "name": experiment["name"] },
        "runs": runs.iter().zip(losses).map(shown_run).collect::<Vec<_>>(),
        "compare_params": {
            "seed": runs[0]["params"]["seed"],
            "learner": runs[0]["params"]["learner"],
            "features": runs[0]["params"]["features"],
        },
        "chart": { "metric": "loss", "points": 3 },
        "alias": "champion",
        "refused": {
            "model": "gated", "version": 1, "from": "None", "to": "Staging",
            "gate": "accuracy > 0.99", "reason": "unmet: metrics.accuracy > 0.99",
            "dry_run": "needs > 0.99",
        },
        "passing": {
            "model": "churn", "version": 1, "from": "Archived", "to": "Staging",
            "gate": "accuracy > 0.9",
            "dry_run": "needs > 0.9",
        },
        "deployment": { "name": "churn", "predictions": predictions },
        "view": {
            "name": view,
            "model": "churn",
            "versions": versions,
            "history": history["versions"].as_array().unwrap().len(),
        },
        "artifacts": {
            "json_shows": "accuracy",
            "dir": "previews",
            "csv": "sample.csv",
            "csv_header": ["driver_id", "conv_rate", "note"],
            "csv_cells": ["1001", "late, then fine", "steady"],
            "image": "curve.svg",
        },
        "forms": forms(),
        "features": ["driver", "driver_hourly_stats", "churn_model"],
        "pipeline_run": {
            "pipeline": "retrain-churn",
            "run_id": pipeline_run["run_id"],
            "tasks": tasks,
            "edges": edges,
        },
        "monitor": {
            "name": monitor,
            "window_start": drifted["window_start"],
            "drifted": verdict(true),
            "steady": verdict(false),
        },
        "sign_in_link": sign_in_link,
        "sign_in_shows": format!("Drift report: {PROJECT} / {monitor}"),
    })
}

#[tokio::test]
async fn the_web_ui_shows_the_quickstart_and_acts_on_it() {
    let root = repo_root();
    let script = root.join("services/gateway/ui/e2e/browser.mjs");
    assert!(
        root.join("services/gateway/ui/node_modules/playwright-core")
            .is_dir(),
        "services/gateway/ui/node_modules lacks playwright-core: run scripts/ui.sh deps"
    );
    let chromium =
        std::env::var_os("LATHE_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} is missing: run scripts/install-tools.sh",
        chromium.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let quickstart = start_quickstart(dir.path());
    let url = url_containing(&quickstart, "127.0.0.1")
        .unwrap_or_else(|| panic!("the quickstart printed no URL:\n{}", quickstart.output()));
    let url = url.trim_end_matches('/').to_owned();
    let sign_in_link = url_containing(&quickstart, "/ui/sign-in?code=");

    let output = common::lathe(dir.path())
        .args(["token", "create", "--data-dir"])
        .arg(dir.path().join("qs"))
        .args(["--subject", "e2e", "--role", "admin"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let api = Api {
        // No pooled connections: the checks after the browser's run would otherwise reuse one
        // the server closed while it sat idle (its keep-alive is a few seconds).
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        url: url.clone(),
        token: token.clone(),
    };
    let facts = seed_and_describe(&api, sign_in_link).await;
    let facts_path = dir.path().join("facts.json");
    std::fs::write(&facts_path, serde_json::to_vec_pretty(&facts).unwrap()).unwrap();

    let mut node = Command::new("node");
    node.arg(&script)
        .args(["--url", &url, "--token", &token, "--facts"])
        .arg(&facts_path)
        .current_dir(&root);
    if let Some(shots) = std::env::var_os("LATHE_UI_SCREENSHOTS") {
        node.arg("--screenshots").arg(shots);
    }
    let ran = node
        .output()
        .unwrap_or_else(|err| panic!("cannot run node (the UI's tests need Node.js 20 or later): {err}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    println!("{said}");
    assert!(
        ran.status.success(),
        "the browser tests failed ({}):\n{said}\n--- facts\n{}\n--- quickstart\n{}",
        ran.status,
        serde_json::to_string_pretty(&facts).unwrap(),
        quickstart.output()
    );
    // Nothing of a refused form exists, through the API either.
    let forms = &facts["forms"];
    let model = format!(
        "/api/v1/projects/{PROJECT}/models/{}",
        forms["model"].as_str().unwrap()
    );
    assert_eq!(api.status(&model).await, 404, "the refused model exists: {model}");
    let projects = api.get_root("/api/v1/projects").await;
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&forms["project"].as_str().unwrap())
            && !names.contains(&forms["bad_project"].as_str().unwrap()),
        "the projects should hold the good one made in the browser only: {projects}"
    );
    let made = api
        .get_root(&format!(
            "/api/v1/projects/{}/experiments",
            forms["project"].as_str().unwrap()
        ))
        .await;
    let names: Vec<&str> = made["experiments"]
        .as_array()
        .unwrap_or_else(|| panic!("the project made in the browser has no experiment list: {made}"))
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&forms["experiment"].as_str().unwrap())
            && !names.contains(&forms["bad_experiment"].as_str().unwrap()),
        "the project made in the browser should hold the good experiment only: {made}"
    );
    quickstart.stop();
}
