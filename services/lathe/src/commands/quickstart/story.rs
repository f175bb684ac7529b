//! The steps of the quickstart, each a client of the platform's REST API.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use lathe_common::auth::{ALL_PROJECTS, Role, Signer};
use lathe_common::service::shutdown_signal;
use serde_json::{Value, json};

use super::example;
use crate::commands::{Api, BoxError, Connection, features, local, segment};
use lathe::churn_data::{self as dataset, Regime};

const PROJECT: &str = "churn";
const PIPELINE: &str = "retrain-churn";
const MONITOR: &str = "churn-drift";
const MODEL: &str = "churn";
const DEPLOYMENT: &str = "churn";
const SOURCE: &str = "driver_hourly_stats_source";
const VIEW: &str = "driver_hourly_stats";
const STEPS: usize = 7;
/// How long a pipeline run may take before the quickstart gives up on it.
const RUN_DEADLINE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(250);
const HOUR_MICROS: i64 = 3_600_000_000;

/// Prints the steps as they go.
struct Story {
    step: usize,
    title: &'static str,
    started: Instant,
    began: Instant,
}

impl Story {
    fn new() -> Story {
        Story {
            step: 0,
            title: "",
            started: Instant::now(),
            began: Instant::now(),
        }
    }

    fn begin(&mut self, title: &'static str) {
        self.step += 1;
        self.title = title;
        self.started = Instant::now();
        println!("\n[{}/{STEPS}] {title}", self.step);
    }

    fn say(&self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            println!("      {line}");
        }
    }

    /// Ends the step with what it proved.
    fn proved(&self, text: impl AsRef<str>) {
        println!(
            "      ✓ {} ({:.1} s)",
            text.as_ref(),
            self.started.elapsed().as_secs_f64()
        );
    }

    fn failed(&self, error: impl std::fmt::Display) -> BoxError {
        format!(
            "quickstart failed at step {}/{STEPS} ({}): {error}",
            self.step, self.title
        )
        .into()
    }
}

/// Tells the story on a platform started with `settings`; serves on afterwards unless `exit`.
pub async fn tell(settings: lathe::PlatformSettings, exit: bool) -> Result<(), BoxError> {
    let mut story = Story::new();
    story.begin("Start Lathe on embedded stores");
    let data_dir = settings.common.data_dir.clone();
    let features_objects = lathe_common::storage::resolve_url(
        &settings.features.service.object_store,
        &data_dir,
        <lathe_feature_service::Features as lathe_common::service::GrpcService>::SECTION,
    )?;
    let signer = Signer::from_settings(&settings.common.auth, &data_dir).map_err(|e| story.failed(e))?;
    let mut platform = lathe::start(settings).await.map_err(|e| story.failed(e))?;
    let url = platform.url();
    let _marker = local::Marker::write(&data_dir, &url);
    let token = signer.sign(
        "quickstart",
        &[Role::Admin],
        &[ALL_PROJECTS.to_owned()],
        Duration::from_secs(7 * 24 * 3600),
    )?;
    let api = Api::new(&Connection {
        url: url.clone(),
        token: Some(token),
        project: Some(PROJECT.to_owned()),
    })?;
    story.say(format!("data in {}", data_dir.display()));
    story.proved(format!("the gateway and six services answer on {url}"));

    let told = steps(&mut story, &api, &data_dir, &features_objects).await;
    let window = match told {
        Ok(window) => window,
        Err(error) => {
            let error = story.failed(error);
            platform.shutdown().await;
            return Err(error);
        }
    };

    story.begin("Where to look");
    let dir = data_dir.display();
    let report_path = format!("/api/v1/projects/{PROJECT}/monitors/{MONITOR}/windows/{window}/report.html");
    let report = platform.sign_in_link(api.token().to_owned(), &report_path);
    story.say(format!(
        "the story took {:.1} s; the platform keeps what it made in {dir}\n\
         API docs:      {url}/api-docs/\n\
         drift report:  {report}\n\
         \x20              (signs this browser in, once; then {url}{report_path})\n\
         the commands that explore it, from another terminal (no token needed beside it):\n\
         \x20 export LATHE_DATA_DIR={dir} LATHE_PROJECT={PROJECT} LATHE_URL={url}",
        story.began.elapsed().as_secs_f64()
    ));
    for command in [
        "lathe models show churn",
        "lathe pipelines runs",
        "lathe monitors windows churn-drift",
        "lathe monitors alerts",
        "lathe deployments churn",
        "lathe predict --deployment churn --entity driver_id=1001",
    ] {
        story.say(format!("  {command}"));
    }
    if exit {
        platform.shutdown().await;
        return Ok(());
    }
    println!("Serving until Ctrl-C.");
    tokio::select! {
        () = shutdown_signal() => {
            platform.shutdown().await;
            Ok(())
        }
        err = platform.wait_for_failure() => Err(err.into()),
    }
}

/// Steps 2 to 6; returns the drifted window (RFC 3339), for the report's address.
async fn steps(
    story: &mut Story,
    api: &Api,
    data_dir: &Path,
    features_objects: &str,
) -> Result<String, BoxError> {
    story.begin("Generate the churn dataset and apply the feature repository");
    replace_earlier_project(story, api, features_objects).await?;
    api.send(
        api.root(reqwest::Method::POST, "/projects")
            .json(&json!({"name": PROJECT, "description": "The quickstart's churn story"})),
    )
    .await?;
    let applied = api
        .post(
            "/features/apply",
            json!({"files": [{"path": "churn.yaml", "content": example::FEATURES}], "dry_run": false}),
        )
        .await?;
    let created = applied["changes"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["action"] == "create").count());
    story.say(format!(
        "applied examples/churn/features: {created} definitions (entity driver, source, view {VIEW}, service churn_model)"
    ));
    let now = now_micros();
    let anchor = now - now.rem_euclid(HOUR_MICROS);
    let history = dataset::history(anchor);
    let ingested = ingest(api, &dataset::parquet(&history)?).await?;
    story.say(format!(
        "ingested {} hourly rows of {} drivers over {} days (checked against {VIEW} first)",
        ingested,
        dataset::DRIVERS,
        dataset::HOURS / 24
    ));
    let labels = dataset::labels(anchor);
    let labels_path = data_dir.join("churn").join("labels.parquet");
    std::fs::create_dir_all(labels_path.parent().unwrap_or(data_dir))?;
    std::fs::write(&labels_path, dataset::parquet(&labels)?)?;
    story.say(format!(
        "wrote {} churn labels to {} (the pipeline's entity frame)",
        labels.num_rows(),
        labels_path.display()
    ));
    if ingested != history.num_rows() as u64 {
        return Err(format!("ingest wrote {ingested} rows of {}", history.num_rows()).into());
    }
    story.proved("the offline store holds the history, every column as the view declares it");

    story.begin("Materialize the features to the online store");
    let start = anchor - dataset::HOURS * HOUR_MICROS;
    let done = features::run_materialization(
        api,
        json!({"start": rfc3339(start), "end": rfc3339(now), "feature_views": [VIEW]}),
        Some("      "),
    )
    .await?;
    let written = entities_written(&done);
    if written != dataset::DRIVERS as u64 {
        return Err(format!(
            "materialization wrote {written} entities, expected {}: {done}",
            dataset::DRIVERS
        )
        .into());
    }
    story.proved(format!("the latest stats of all {written} drivers are online"));

    story.begin("Train, evaluate, register and promote through the pipeline retrain-churn");
    let model: Value = serde_yaml::from_str(example::MODEL)?;
    api.post("/models", model).await?;
    story.say("model churn: Staging only if accuracy > 0.9 (the registry's gate)");
    apply_monitor(api).await?;
    api.post(
        "/pipelines/apply",
        json!({"files": [{"path": "pipeline.yaml", "content": example::PIPELINE}], "dry_run": false}),
    )
    .await?;
    let run = api
        .post(&format!("/pipelines/{PIPELINE}/runs"), json!({}))
        .await?;
    let run = follow(story, api, &run).await?;
    let first = champion_of(story, api, &run).await?;
    story.proved(format!(
        "version {first} trained, evaluated, registered with its lineage and promoted by the gate"
    ));

    story.begin("Deploy the champion and serve predictions");
    let deployed = api
        .post(
            "/deployments",
            json!({"name": DEPLOYMENT, "model": MODEL, "alias": "champion", "monitor": MONITOR}),
        )
        .await?;
    let serving = count(&deployed["serving"]["version"]).unwrap_or_default();
    if serving != first {
        return Err(format!("the deployment serves version {serving}, the champion is {first}").into());
    }
    story.say(format!(
        "deployment {DEPLOYMENT} serves version {serving} (alias champion)"
    ));
    online_equals_offline(story, api).await?;

    story.begin("Watch drift, raise an alert and retrain");
    let reference = api.get(&format!("/monitors/{MONITOR}/reference")).await?;
    story.say(format!(
        "reference of {MONITOR}: {} rows of the training set (set by the run's reference task)",
        count(&reference["rows"]).unwrap_or_default()
    ));
    let calm = traffic(story, api, "usual").await?;
    if calm["drifted"] == true {
        return Err(format!("the usual traffic drifted: {}", drift_line(&calm)).into());
    }
    ingest(
        api,
        &dataset::parquet(&dataset::hour(now_micros(), -1, Regime::Shifted))?,
    )
    .await?;
    let done = features::run_materialization(
        api,
        json!({"incremental": true, "end": rfc3339(now_micros())}),
        None,
    )
    .await?;
    story.say(format!(
        "the drivers' behaviour changed: a new hour of stats ingested and materialized ({} drivers)",
        entities_written(&done)
    ));
    let drifted = traffic(story, api, "shifted").await?;
    if drifted["drifted"] != true {
        return Err(format!("the shifted traffic did not drift: {}", drift_line(&drifted)).into());
    }
    let window = drifted["window_start"].as_str().unwrap_or_default().to_owned();
    // The retraining run sees the same labels (a quickstart has no newer ground truth), so its
    // version meets the gate as the first did: what it shows is the loop itself, from the alert
    // to the deployment serving the new version.
    let retrain = alert_run(story, api, &window).await?;
    let run = follow(story, api, &retrain).await;
    match run {
        Ok(run) => {
            let second = champion_of(story, api, &run).await?;
            let switched = eventually("the deployment to serve the new champion", || async {
                let d = api.get(&format!("/deployments/{DEPLOYMENT}")).await.ok()?;
                (count(&d["serving"]["version"]) == Some(second)).then_some(d)
            })
            .await?;
            story.proved(format!(
                "drift noticed, retrained, the gate passed version {second}: the deployment switched from v{first} to v{}",
                switched["serving"]["version"]
            ));
        }
        Err(error) if error.to_string().contains("promote") => {
            story.proved(format!(
                "drift noticed and retrained; the gate kept version {first} serving: {error}"
            ));
        }
        Err(error) => return Err(error),
    }
    Ok(window)
}

/// An earlier quickstart's project (and the files it ingested) make way for this one.
async fn replace_earlier_project(story: &Story, api: &Api, features_objects: &str) -> Result<(), BoxError> {
    let existing = api
        .root(reqwest::Method::GET, &format!("/projects/{PROJECT}"))
        .send()
        .await?;
    if existing.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(());
    }
    Api::successful(existing).await?;
    api.send(api.root(
        reqwest::Method::DELETE,
        &format!("/projects/{PROJECT}?cascade=true"),
    ))
    .await?;
    if let Some(dir) = features_objects.strip_prefix("file://") {
        let folder = Path::new(dir).join("churn");
        if folder.exists() {
            std::fs::remove_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        }
    }
    story.say("replaced the churn project an earlier quickstart left here");
    Ok(())
}

async fn ingest(api: &Api, parquet: &[u8]) -> Result<u64, BoxError> {
    let answer = api
        .send(
            api.request(
                reqwest::Method::POST,
                &format!("/features/sources/{SOURCE}/ingest"),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/vnd.apache.parquet")
            .body(parquet.to_vec()),
        )
        .await?;
    count(&answer["rows"]).ok_or_else(|| format!("ingest answered no row count: {answer}").into())
}

async fn apply_monitor(api: &Api) -> Result<(), BoxError> {
    let document: Value = serde_yaml::from_str(example::MONITOR)?;
    let mut monitor = document["monitors"][0].clone();
    let name = monitor
        .as_object_mut()
        .and_then(|m| m.remove("name"))
        .ok_or("examples/churn/monitor.yaml: the monitor has no name")?;
    if name != MONITOR {
        return Err(format!("examples/churn/monitor.yaml names {name}, not {MONITOR}").into());
    }
    api.put(&format!("/monitors/{MONITOR}"), monitor).await?;
    Ok(())
}

fn entities_written(done: &Value) -> u64 {
    done["views"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| count(&v["entities_written"]))
        .sum()
}

/// Prints a run's task states as they change until it ends; an error unless it succeeded,
/// naming the task that failed and why.
async fn follow(story: &Story, api: &Api, run: &Value) -> Result<Value, BoxError> {
    let run_id = run["run_id"].as_str().unwrap_or_default().to_owned();
    story.say(format!("run {run_id} of {PIPELINE}"));
    let deadline = Instant::now() + RUN_DEADLINE;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let run = api.get(&format!("/pipeline-runs/{}", segment(&run_id))).await?;
        for task in run["tasks"].as_array().into_iter().flatten() {
            let id = task["task_id"].as_str().unwrap_or_default();
            let state = task["state"].as_str().unwrap_or_default();
            if seen.get(id).is_some_and(|s| s == state) || matches!(state, "pending" | "scheduled" | "queued")
            {
                continue;
            }
            seen.insert(id.to_owned(), state.to_owned());
            let detail = task_detail(task);
            story.say(format!("  {id:<13} {state}{detail}"));
        }
        match run["state"].as_str().unwrap_or_default() {
            "success" => return Ok(run),
            "failed" | "cancelled" => {
                let failed = run["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["state"] == "failed");
                let Some(task) = failed else {
                    return Err(format!("run {run_id} of {PIPELINE} ended {}", run["state"]).into());
                };
                let task_id = task["task_id"].as_str().unwrap_or_default();
                story.say(format!("the log of {task_id}, last lines:"));
                story.say(log_tail(api, &run_id, task_id).await);
                return Err(format!(
                    "run {run_id} of {PIPELINE} ended {}: task {task_id} failed: {}",
                    run["state"],
                    task["message"].as_str().unwrap_or_default()
                )
                .into());
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!("run {run_id} of {PIPELINE} did not end within {RUN_DEADLINE:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last lines of a task's log (its latest try), indented; what went wrong reading it.
async fn log_tail(api: &Api, run_id: &str, task_id: &str) -> String {
    let path = format!(
        "/pipeline-runs/{}/tasks/{}/log",
        segment(run_id),
        segment(task_id)
    );
    let text = match api.request(reqwest::Method::GET, &path).send().await {
        Ok(response) => match Api::successful(response).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => format!("(cannot read the log: {error})"),
        },
        Err(error) => format!("(cannot read the log: {error})"),
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..]
        .iter()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a finished task produced, in a few words.
fn task_detail(task: &Value) -> String {
    if task["state"] != "success" {
        let message = task["message"].as_str().unwrap_or_default();
        return if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
    }
    let outputs: Value = task["outputs_json"]
        .as_str()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| task["outputs"].clone());
    let shown: Vec<String> = ["rows", "accuracy", "auc", "version", "stage", "alias"]
        .iter()
        .filter_map(|key| {
            let value = outputs.get(*key)?;
            Some(match value.as_f64() {
                Some(number) if value.is_f64() => format!("{key} {number:.3}"),
                _ => format!(
                    "{key} {}",
                    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
                ),
            })
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join(", "))
    }
}

fn outputs_of(run: &Value, task_id: &str) -> Value {
    run["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["task_id"] == task_id)
        .map(|t| {
            t["outputs_json"]
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_else(|| t["outputs"].clone())
        })
        .unwrap_or(Value::Null)
}

/// The version a successful run registered and made champion, shown with its lineage.
async fn champion_of(story: &Story, api: &Api, run: &Value) -> Result<u64, BoxError> {
    let version = count(&outputs_of(run, "register")["version"])
        .ok_or("the run's register task answered no version")?;
    let accuracy = outputs_of(run, "train")["accuracy"].as_f64().unwrap_or(f64::NAN);
    let shown = api.get(&format!("/models/{MODEL}/versions/{version}")).await?;
    let stage = shown["stage"].as_str().unwrap_or_default();
    if stage != "Staging" && stage != "STAGE_STAGING" {
        return Err(format!("version {version} is in stage {stage}, not Staging").into());
    }
    let model = api.get(&format!("/models/{MODEL}")).await?;
    if count(&model["aliases"]["champion"]) != Some(version) {
        return Err(format!(
            "alias champion points at {}, not {version}",
            model["aliases"]["champion"]
        )
        .into());
    }
    let lineage = &shown["lineage"];
    story.say(format!(
        "version {version}: held-out accuracy {accuracy:.3} > 0.9, so the gate let it into {stage}; alias champion → v{version}\n  lineage: run {}, training set {}, feature service {}",
        lineage["orchestrator_run"].as_str().unwrap_or("-"),
        lineage["training_dataset"].as_str().unwrap_or("-"),
        lineage["feature_service"].as_str().unwrap_or("-"),
    ));
    Ok(version)
}

/// Predicts for a few drivers and checks the features used against the offline join for now.
async fn online_equals_offline(story: &Story, api: &Api) -> Result<(), BoxError> {
    let drivers = [1001_i64, 1002, 1003, 1004, 1005];
    let answer = api
        .post(
            &format!("/predict/{DEPLOYMENT}"),
            json!({"entities": {"driver_id": drivers}, "include_features": true}),
        )
        .await?;
    let at = rfc3339(now_micros());
    let frame: String = std::iter::once("driver_id,event_timestamp".to_owned())
        .chain(drivers.iter().map(|d| format!("{d},{at}")))
        .collect::<Vec<_>>()
        .join("\n");
    let response = api
        .request(reqwest::Method::POST, "/features/historical")
        .query(&[("feature_service", "churn_model")])
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(frame)
        .send()
        .await?;
    let offline = offline_rows(&Api::successful(response).await?.bytes().await?)?;
    story.say("driver   conv_rate  acc_rate  avg_daily_trips  P(churn)  label   offline join");
    let predictions = answer["predictions"].as_array().cloned().unwrap_or_default();
    if predictions.len() != drivers.len() {
        return Err(format!("asked {} predictions, got {}", drivers.len(), predictions.len()).into());
    }
    let churn_class = answer["classes"]
        .as_array()
        .and_then(|c| c.iter().position(|c| c == "1"))
        .ok_or_else(|| format!("the model's classes are {}, not 0/1", answer["classes"]))?;
    for (driver, prediction) in drivers.iter().zip(&predictions) {
        let online: Vec<f64> = prediction["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        let expected = offline
            .get(driver)
            .ok_or_else(|| format!("the offline join has no row for driver {driver}"))?;
        // The model takes float32 inputs: serving answers the values it used, as float32.
        let same = online.len() == expected.len()
            && online
                .iter()
                .zip(expected)
                .all(|(a, b)| *a == f64::from(*b as f32));
        story.say(format!(
            "{driver}   {:>9.4}  {:>8.4}  {:>15}  {:>8.3}  {:>5}   {}",
            online.first().copied().unwrap_or(f64::NAN),
            online.get(1).copied().unwrap_or(f64::NAN),
            online.get(2).copied().unwrap_or(f64::NAN),
            prediction["probabilities"][churn_class]
                .as_f64()
                .unwrap_or(f64::NAN),
            prediction["label"].as_str().unwrap_or("?"),
            if same { "equal" } else { "DIFFERENT" }
        ));
        if !same {
            return Err(format!(
                "driver {driver}: online features {online:?} differ from the offline join {expected:?}"
            )
            .into());
        }
    }
    story.proved("predictions served; the online features they used equal the point-in-time join for now (as the model's float32 inputs)");
    Ok(())
}

/// driver_id → the churn_model features of each row of a training set.
fn offline_rows(parquet: &[u8]) -> Result<BTreeMap<i64, Vec<f64>>, BoxError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type};
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(parquet),
    )?
    .build()?;
    let mut rows = BTreeMap::new();
    for batch in reader {
        let batch = batch?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("the training set has no column {name}"))
        };
        let ids = column("driver_id")?
            .as_primitive_opt::<Int64Type>()
            .ok_or("driver_id is not int64")?
            .clone();
        let conv = column("conv_rate")?
            .as_primitive_opt::<Float64Type>()
            .ok_or("conv_rate is not float64")?
            .clone();
        let acc = column("acc_rate")?
            .as_primitive_opt::<Float64Type>()
            .ok_or("acc_rate is not float64")?
            .clone();
        let trips = column("avg_daily_trips")?
            .as_primitive_opt::<Int64Type>()
            .ok_or("avg_daily_trips is not int64")?
            .clone();
        for row in 0..batch.num_rows() {
            if conv.is_null(row) || acc.is_null(row) || trips.is_null(row) {
                return Err(
                    format!("the offline join found no features for driver {}", ids.value(row)).into(),
                );
            }
            rows.insert(
                ids.value(row),
                vec![conv.value(row), acc.value(row), trips.value(row) as f64],
            );
        }
    }
    Ok(rows)
}

/// Sends one prediction per driver through the deployment inside one fresh monitor window,
/// waits for the window to close with its logged rows, and checks it.
async fn traffic(story: &Story, api: &Api, kind: &str) -> Result<Value, BoxError> {
    let monitor = api.get(&format!("/monitors/{MONITOR}")).await?;
    let window_ms = monitor["window_seconds"].as_i64().unwrap_or(10) * 1000;
    // Start just after a window opens, so the whole burst falls in it.
    let now_ms = now_micros() / 1000;
    let window_start = now_ms - now_ms.rem_euclid(window_ms) + window_ms;
    tokio::time::sleep(Duration::from_millis((window_start + 100 - now_ms) as u64)).await;
    let drivers: Vec<i64> = (dataset::FIRST_DRIVER..dataset::FIRST_DRIVER + dataset::DRIVERS).collect();
    let mut sent = 0;
    for chunk in drivers.chunks(50) {
        let answer = api
            .post(
                &format!("/predict/{DEPLOYMENT}"),
                json!({"entities": {"driver_id": chunk}}),
            )
            .await?;
        sent += answer["predictions"].as_array().map_or(0, Vec::len);
    }
    let window = rfc3339(window_start * 1000);
    // Serving sends its log every second; the window is checked once it has closed.
    let wait = (window_start + window_ms + 1500 - now_micros() / 1000).max(0);
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    let result = eventually("the window's logged rows", || async {
        let result = api
            .post(&format!("/monitors/{MONITOR}/check"), json!({"window": window}))
            .await
            .ok()?;
        (count(&result["rows"]) == Some(sent as u64)).then_some(result)
    })
    .await?;
    story.say(format!(
        "{sent} predictions with {kind} inputs, logged by serving; window {window}: {}",
        drift_line(&result)
    ));
    Ok(result)
}

/// `drifted: conv_rate (wasserstein 1.9), …` for a checked window.
fn drift_line(result: &Value) -> String {
    let columns: Vec<String> = result["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} {}{}",
                c["column"].as_str().unwrap_or("?"),
                c["method"].as_str().unwrap_or("?"),
                c["statistic"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.3}")),
                if c["drifted"] == true { " DRIFT" } else { "" }
            )
        })
        .collect();
    format!(
        "{} ({})",
        if result["drifted"] == true {
            "drifted"
        } else {
            "no drift"
        },
        columns.join(", ")
    )
}

/// The alert of the drifted window and the retraining run it started.
async fn alert_run(story: &Story, api: &Api, window: &str) -> Result<Value, BoxError> {
    let alert = eventually("the alert to start retrain-churn", || async {
        let listed = api.get(&format!("/alerts?monitor={MONITOR}")).await.ok()?;
        let alert = listed["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["window_start"].as_str() == Some(window))?
            .clone();
        let started = alert["runs"]
            .as_array()?
            .iter()
            .any(|r| r["pipeline"] == PIPELINE && r["run_id"].as_str().is_some_and(|id| !id.is_empty()));
        started.then_some(alert)
    })
    .await?;
    let run_id = alert["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["pipeline"] == PIPELINE)
        .and_then(|r| r["run_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    story.say(format!(
        "alert {} raised for window {window}; it started run {run_id} of {PIPELINE}",
        alert["alert_id"].as_str().or(alert["id"].as_str()).unwrap_or("?")
    ));
    api.get(&format!("/pipeline-runs/{}", segment(&run_id))).await
}

/// Polls `probe` (every 250 ms, at most a minute) until it answers.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A count or version in an answer: protobuf's JSON writes 64-bit integers as text.
fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.parse().ok())
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
