//! The quickstart's example trainer (`churn-trainer`) against a real platform: it trains on a
//! Parquet training set, logs a tracking run through the REST API (params, metrics,
//! `model/model.onnx` and `metrics.json`), and the run's `model` directory registers as a
//! version that serving deploys and that answers the trainer's own probabilities. A refused
//! token stops it at the first step with nothing logged; a step refused after the run started
//! leaves the run FAILED, never FINISHED.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use lathe_example_trainer::cli::{self, CliError, Report};
use lathe_example_trainer::tracking::{Cause, Step, TrackingError};
use lathe_example_trainer::{Dataset, Metrics, train};
use lathe_tests::{TestPlatform, TokenRole};
use serde_json::{Value, json};

const PROJECT: &str = "churn";
const EXPERIMENT: &str = "churn-baseline";
const MODEL: &str = "churn-clf";
const FEATURES: [&str; 3] = ["conv_rate", "acc_rate", "avg_daily_trips"];
const INPUTS: [&str; 3] = [
    "driver_stats:conv_rate",
    "driver_stats:acc_rate",
    "driver_stats:avg_daily_trips",
];
const ROWS: usize = 1500;

fn api(path: &str) -> String {
    format!("/api/v1/projects/{PROJECT}{path}")
}

/// SplitMix64: the test's own deterministic uniform numbers in [0, 1).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `ROWS` drivers whose churn follows `sigmoid(8·(conv − 0.5) − 0.2·(acc − 50) + 0.01·(trips −
/// 500))`: a logistic relation strong enough for a holdout accuracy above 0.9. `feature_names`
/// names the three feature columns.
fn training_set(feature_names: [&str; 3]) -> RecordBatch {
    let mut uniform = Uniform(42);
    let mut columns: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut churned = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let conv = uniform.next();
        let acc = 20.0 + 60.0 * uniform.next();
        let trips = 1000.0 * uniform.next();
        let logit = 8.0 * (conv - 0.5) - 0.2 * (acc - 50.0) + 0.01 * (trips - 500.0);
        churned.push(uniform.next() < 1.0 / (1.0 + (-logit).exp()));
        for (column, value) in columns.iter_mut().zip([conv, acc, trips]) {
            column.push(value);
        }
    }
    let mut fields = vec![Field::new("driver_id", DataType::Int64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(1000..1000 + ROWS as i64))];
    for (name, column) in feature_names.into_iter().zip(columns) {
        fields.push(Field::new(name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(column)));
    }
    fields.push(Field::new("churned", DataType::Boolean, false));
    arrays.push(Arc::new(BooleanArray::from(churned)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a valid batch")
}

/// A folder with `training.parquet` of `training_set(feature_names)`.
fn training_folder(feature_names: [&str; 3]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        folder.path().join("training.parquet"),
        lathe_tests::parquet_bytes(&training_set(feature_names)),
    )
    .expect("write the training set");
    folder
}

/// The trainer's arguments for the training set in `folder`, logging to `t` with `token`.
fn trainer_args(t: &TestPlatform, folder: &Path, feature_names: [&str; 3], token: &str) -> Vec<String> {
    let path = |name: &str| folder.join(name).display().to_string();
    [
        "churn-trainer",
        "--train",
        &path("training.parquet"),
        "--features",
        &feature_names.join(","),
        "--label",
        "churned",
        "--out",
        &path("out"),
        "--experiment",
        EXPERIMENT,
        "--url",
        &t.url,
        "--token",
        token,
        "--project",
        PROJECT,
        "--pipeline-run",
        "pipeline-run-17",
        "--pipeline-task",
        "train",
        "--outputs",
        &path("outputs.json"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The trainer, off the test's runtime: it blocks on a runtime of its own.
async fn try_trainer(args: Vec<String>) -> Result<Report, CliError> {
    tokio::task::spawn_blocking(move || cli::try_main(args))
        .await
        .expect("the trainer does not panic")
}

async fn trainer_exit_code(args: Vec<String>) -> ExitCode {
    tokio::task::spawn_blocking(move || cli::cli_main(args))
        .await
        .expect("the trainer does not panic")
}

/// Sends a request and returns its JSON body, asserting the status.
async fn expect_json(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn platform_with_project() -> TestPlatform {
    let t = TestPlatform::embedded().await;
    t.create_project(PROJECT).await;
    t
}

/// The project's experiments, deleted ones included.
async fn experiments(t: &TestPlatform) -> Vec<Value> {
    let listed = expect_json(t.get(&api("/experiments?view=all"), &t.admin()), 200).await;
    listed["experiments"].as_array().cloned().unwrap_or_default()
}

/// Every run of the project.
async fn runs(t: &TestPlatform) -> Vec<Value> {
    let found = expect_json(t.post(&api("/runs/search"), &t.admin(), &json!({})), 200).await;
    found["runs"].as_array().cloned().unwrap_or_default()
}

/// The tracking error of a failed invocation.
fn tracking_error(error: &CliError) -> &TrackingError {
    match error {
        CliError::Tracking { source, .. } => source,
        CliError::Usage(_)
        | CliError::Train(_)
        | CliError::TrackingSettings(_)
        | CliError::Outputs { .. } => panic!("not a tracking error: {error:?}"),
    }
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    // serde_json's default float parsing may be one ulp off.
    assert!(
        (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
        "{what}: {actual} vs {expected}"
    );
}

#[tokio::test]
async fn the_trainer_logs_a_run_that_registers_deploys_and_predicts() {
    let t = platform_with_project().await;
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    let folder = training_folder(FEATURES);
    let args = trainer_args(&t, folder.path(), FEATURES, &editor);

    let report = try_trainer(args.clone())
        .await
        .expect("the trainer trains and logs");
    let tracked = report.tracked.clone().expect("a tracking run");
    assert_eq!(tracked.experiment, EXPERIMENT);
    let summary = report.to_string();
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(
        summary.contains(&format!("logged run {}", tracked.run_id)),
        "{summary}"
    );

    let out = folder.path().join("out");
    let metrics: Metrics =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).expect("metrics.json"))
            .expect("metrics.json parses");
    assert!(metrics.accuracy > 0.9, "{metrics:?}");
    assert_eq!(
        (metrics.train_rows, metrics.holdout_rows),
        (report.metrics.train_rows, report.metrics.holdout_rows)
    );
    assert_close(metrics.auc, report.metrics.auc, "metrics.json's AUC");

    // The task outputs: the metrics and the run to register from.
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(folder.path().join("outputs.json")).expect("outputs.json"))
            .expect("outputs.json parses");
    let mut keys: Vec<&str> = outputs
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accuracy",
            "auc",
            "holdout_rows",
            "log_loss",
            "run_id",
            "train_rows"
        ],
        "{outputs}"
    );
    assert_eq!(outputs["run_id"], tracked.run_id.as_str());
    assert_eq!(outputs["train_rows"], metrics.train_rows);
    assert_eq!(outputs["holdout_rows"], metrics.holdout_rows);
    for (key, value) in [
        ("accuracy", metrics.accuracy),
        ("auc", metrics.auc),
        ("log_loss", metrics.log_loss),
    ] {
        assert_close(outputs[key].as_f64().expect("a number"), value, key);
    }

    // The run, through the REST API: in the experiment, FINISHED, with the params, the
    // pipeline's tags and the metrics of metrics.json.
    let listed = experiments(&t).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], EXPERIMENT);
    assert_eq!(listed[0]["experiment_id"], tracked.experiment_id.as_str());
    let run = expect_json(t.get(&api(&format!("/runs/{}", tracked.run_id)), &editor), 200).await;
    assert_eq!(run["experiment_id"], tracked.experiment_id.as_str(), "{run}");
    assert_eq!(run["status"], "FINISHED", "{run}");
    assert!(run["end_time_ms"].as_i64().expect("an end time") > 0, "{run}");
    assert_eq!(run["name"], "churn-trainer");
    assert_eq!(run["tags"]["lathe.pipeline_run"], "pipeline-run-17", "{run}");
    assert_eq!(run["tags"]["lathe.pipeline_task"], "train", "{run}");
    assert_eq!(
        run["params"],
        json!({
            "features": "conv_rate,acc_rate,avg_daily_trips",
            "label": "churned",
            "holdout": "0.2",
            "seed": "7",
            "learner": cli::LEARNER,
        })
    );
    let logged: Vec<(String, f64)> = run["latest_metrics"]
        .as_array()
        .expect("latest_metrics")
        .iter()
        .map(|metric| {
            (
                metric["key"].as_str().expect("a key").to_owned(),
                metric["value"].as_f64().expect("a value"),
            )
        })
        .collect();
    let mut keys: Vec<&str> = logged.iter().map(|(key, _)| key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["accuracy", "auc", "holdout_rows", "log_loss", "train_rows"]
    );
    for (key, value) in &logged {
        let expected = match key.as_str() {
            "accuracy" => metrics.accuracy,
            "auc" => metrics.auc,
            "log_loss" => metrics.log_loss,
            "train_rows" => metrics.train_rows as f64,
            "holdout_rows" => metrics.holdout_rows as f64,
            other => panic!("unexpected metric {other}"),
        };
        assert_close(*value, expected, key);
    }

    // The artifacts: model/model.onnx as written, and metrics.json at the root.
    let listing = expect_json(
        t.get(
            &api(&format!("/runs/{}/artifacts?path=model", tracked.run_id)),
            &editor,
        ),
        200,
    )
    .await;
    let paths: Vec<&str> = listing["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|artifact| artifact["path"].as_str())
        .collect();
    assert_eq!(paths, ["model/model.onnx"], "{listing}");
    for (artifact, local) in [
        ("model/model.onnx", out.join("model.onnx")),
        ("metrics.json", out.join("metrics.json")),
    ] {
        let downloaded = t
            .get(
                &api(&format!("/runs/{}/artifacts/{artifact}", tracked.run_id)),
                &editor,
            )
            .send()
            .await
            .expect("download");
        assert_eq!(downloaded.status(), 200, "{artifact}");
        assert_eq!(
            downloaded.bytes().await.expect("the content").as_ref(),
            std::fs::read(&local).expect("the local file"),
            "{artifact} is the file written"
        );
    }

    // Registered from the run's `model` directory with a signature naming the inputs, the
    // version carries the run's metrics.
    expect_json(t.post(&api("/models"), &editor, &json!({ "name": MODEL })), 201).await;
    let version = expect_json(
        t.post(
            &api(&format!("/models/{MODEL}/versions")),
            &editor,
            &json!({
                "run_id": tracked.run_id,
                "artifact_path": "model",
                "signature": { "inputs": INPUTS, "output": "churned" },
            }),
        ),
        201,
    )
    .await;
    assert_eq!(version["version"], 1, "{version}");
    assert_eq!(version["run_id"], tracked.run_id.as_str());
    assert_close(
        version["metrics"]["accuracy"].as_f64().expect("accuracy"),
        metrics.accuracy,
        "the version's accuracy",
    );

    // Deployed behind `champion`, it answers the trainer's own probabilities.
    expect_json(
        t.put(
            &api(&format!("/models/{MODEL}/aliases/champion")),
            &editor,
            &json!({ "version": 1 }),
        ),
        200,
    )
    .await;
    let deployment = expect_json(
        t.post(&api("/deployments"), &editor, &json!({ "model": MODEL })),
        201,
    )
    .await;
    assert_eq!(deployment["serving"]["version"], 1, "{deployment}");

    let dataset = Dataset::read_parquet(
        &folder.path().join("training.parquet"),
        &FEATURES.map(str::to_owned),
        "churned",
    )
    .expect("the training set reads");
    let trained = train(
        &dataset,
        lathe_example_trainer::DEFAULT_HOLDOUT,
        lathe_example_trainer::DEFAULT_SEED,
    )
    .expect("trains as the trainer did");
    let rows = &trained.split.holdout[..5];
    let request_features: serde_json::Map<String, Value> = INPUTS
        .iter()
        .enumerate()
        .map(|(column, input)| {
            let values: Vec<f64> = rows.iter().map(|&row| dataset.row(row)[column]).collect();
            ((*input).to_owned(), json!(values))
        })
        .collect();
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let answer = expect_json(
        t.post(
            &format!("/api/v1/projects/{PROJECT}/predict/{MODEL}"),
            &viewer,
            &json!({
                "entities": { "driver_id": rows.iter().map(|&row| 1000 + row).collect::<Vec<_>>() },
                "request_features": request_features,
            }),
        ),
        200,
    )
    .await;
    assert_eq!(answer["classes"], json!(["0", "1"]), "{answer}");
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), rows.len());
    for (prediction, &row) in predictions.iter().zip(rows) {
        let served = prediction["probabilities"][1].as_f64().expect("a probability");
        let expected = trained.model.probability(dataset.row(row));
        // Serving computes in f32.
        assert!(
            (served - expected).abs() < 1e-4,
            "row {row}: served {served}, trained {expected}"
        );
    }

    // A second training logs a second run into the same experiment, through the command's
    // exit code this time.
    assert_eq!(trainer_exit_code(args).await, ExitCode::SUCCESS);
    assert_eq!(experiments(&t).await.len(), 1, "the experiment is reused");
    let all = runs(&t).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter()
            .all(|run| run["status"] == "FINISHED" && run["experiment_id"] == tracked.experiment_id.as_str()),
        "{all:?}"
    );
}

#[tokio::test]
async fn a_refused_token_stops_the_first_step_and_logs_nothing() {
    let t = platform_with_project().await;
    let folder = training_folder(FEATURES);
    let outputs = folder.path().join("outputs.json");

    let error = try_trainer(trainer_args(&t, folder.path(), FEATURES, "not-a-token"))
        .await
        .expect_err("an invalid token is refused");
    assert!(
        matches!(
            tracking_error(&error),
            TrackingError::BeforeRun {
                step: Step::Experiment { .. },
                cause: Cause::Refused { status, .. },
                ..
            } if status.as_u16() == 401
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("getting or creating experiment `{EXPERIMENT}`"))
            && message.contains("401"),
        "names the step and the answer: {message}"
    );
    assert!(
        folder.path().join("out/model.onnx").exists(),
        "the training itself is kept"
    );
    assert!(!outputs.exists(), "no outputs for a failed task");

    // A viewer may read but not log: refused at the same step, with the server's reason.
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let error = try_trainer(trainer_args(&t, folder.path(), FEATURES, &viewer))
        .await
        .expect_err("a viewer cannot log");
    let message = error.to_string();
    assert!(
        message.contains("getting or creating experiment") && message.contains("403"),
        "{message}"
    );

    // Through the command: a failure exit code.
    assert_eq!(
        trainer_exit_code(trainer_args(&t, folder.path(), FEATURES, "not-a-token")).await,
        ExitCode::FAILURE
    );
    assert!(!outputs.exists(), "no outputs for a failed task");
    assert!(experiments(&t).await.is_empty(), "no experiment created");
    assert!(runs(&t).await.is_empty(), "no run created");
}

#[tokio::test]
async fn a_step_refused_after_the_run_started_leaves_it_failed() {
    let t = platform_with_project().await;
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    // Feature names so long that the `features` param exceeds the server's 6,000 bytes: the
    // run is created, then its batch of params and metrics is refused.
    let long_names =
        ["conv_rate", "acc_rate", "avg_daily_trips"].map(|name| format!("{name}_{}", "x".repeat(2100)));
    let names = [
        long_names[0].as_str(),
        long_names[1].as_str(),
        long_names[2].as_str(),
    ];
    let folder = training_folder(names);

    let error = try_trainer(trainer_args(&t, folder.path(), names, &editor))
        .await
        .expect_err("the batch is refused");
    let TrackingError::RunFailed { run_id, step, cause } = tracking_error(&error) else {
        panic!("{error:?}");
    };
    assert_eq!(step, &Step::LogBatch);
    assert!(
        matches!(cause, Cause::Refused { status, message } if status.as_u16() == 400 && message.contains("6000")),
        "{cause:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("logging params and metrics") && message.contains("marked FAILED"),
        "{message}"
    );
    assert!(!folder.path().join("outputs.json").exists());

    let run = expect_json(t.get(&api(&format!("/runs/{run_id}")), &editor), 200).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(run["end_time_ms"].as_i64().expect("an end time") > 0, "{run}");
    let listing = expect_json(t.get(&api(&format!("/runs/{run_id}/artifacts")), &editor), 200).await;
    assert_eq!(
        listing["artifacts"].as_array().map_or(0, Vec::len),
        0,
        "no artifacts after the failed step: {listing}"
    );
    let all = runs(&t).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all.iter().all(|run| run["status"] != "FINISHED"), "{all:?}");
}

#[tokio::test]
async fn a_deleted_experiment_of_that_name_is_not_logged_into() {
    let t = platform_with_project().await;
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    let experiment = expect_json(
        t.post(&api("/experiments"), &editor, &json!({ "name": EXPERIMENT })),
        201,
    )
    .await;
    let experiment_id = experiment["experiment_id"].as_str().expect("an id").to_owned();
    let deleted = t
        .http
        .delete(format!(
            "{}{}",
            t.url,
            api(&format!("/experiments/{experiment_id}"))
        ))
        .bearer_auth(&editor)
        .send()
        .await
        .expect("delete the experiment");
    assert_eq!(deleted.status(), 200);
    let folder = training_folder(FEATURES);

    let error = try_trainer(trainer_args(&t, folder.path(), FEATURES, &editor))
        .await
        .expect_err("a deleted experiment is not reused");
    assert!(
        matches!(
            tracking_error(&error),
            TrackingError::BeforeRun {
                cause: Cause::DeletedExperiment(id),
                ..
            } if *id == experiment_id
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("lathe experiments restore {experiment_id}")),
        "says how to restore it: {message}"
    );
    assert!(runs(&t).await.is_empty(), "no run created");
}
