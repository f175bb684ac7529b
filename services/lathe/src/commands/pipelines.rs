//! `lathe pipelines plan|apply|list|show|trigger|runs|logs|cancel|rerun`: pipeline definitions
//! (YAML files) and their runs on a running Lathe. Answers print as text for people, or as
//! the API's JSON with `--json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::features::repository_files;
use super::{Api, BoxError, key_value, print, segment};

/// How often `trigger --wait` reads the run.
const WAIT_POLL: Duration = Duration::from_millis(300);

#[derive(Subcommand)]
pub enum PipelinesCommand {
    /// Show what applying the definitions would change: each pipeline's action and version.
    Plan {
        /// YAML files, or directories whose `*.yaml`/`*.yml` files are read.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Apply the definitions: every changed pipeline gets a new version (admin).
    Apply {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List the project's pipelines.
    List,
    /// Show a pipeline with its tasks.
    Show { name: String },
    /// Start a run of a pipeline.
    Trigger {
        name: String,
        /// A parameter, `key=value` (JSON, or bare text for a string); repeatable.
        #[arg(long = "param", value_parser = key_value)]
        params: Vec<(String, String)>,
        /// The run's logical date (RFC 3339); now when absent.
        #[arg(long)]
        logical_date: Option<String>,
        /// Show each task's state as it changes until the run ends; fail unless it succeeds.
        #[arg(long)]
        wait: bool,
    },
    /// List runs, newest first.
    Runs {
        #[arg(long)]
        pipeline: Option<String>,
        /// queued, running, success, failed or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Print a task's log.
    Logs {
        run: String,
        task: String,
        /// The try whose log to print; the latest when absent.
        #[arg(long = "try")]
        try_number: Option<u32>,
        /// Keep printing as the log grows, until the try ends.
        #[arg(long)]
        follow: bool,
    },
    /// Cancel a queued or running run.
    Cancel { run: String },
    /// Run a failed or cancelled run again from the tasks that did not succeed.
    Rerun { run: String },
}

pub async fn pipelines(api: &Api, command: PipelinesCommand, as_json: bool) -> Result<(), BoxError> {
    let (answer, text) = match command {
        PipelinesCommand::Plan { paths } => {
            let answer = apply(api, &paths, true).await?;
            let text = render_changes(&answer);
            (answer, text)
        }
        PipelinesCommand::Apply { paths } => {
            let answer = apply(api, &paths, false).await?;
            let text = render_changes(&answer);
            (answer, text)
        }
        PipelinesCommand::List => {
            let answer = api.every_page("/pipelines", "pipelines").await?;
            let text = render_pipelines(&answer);
            (answer, text)
        }
        PipelinesCommand::Show { name } => {
            let answer = api.get(&format!("/pipelines/{}", segment(&name))).await?;
            let text = render_pipeline(&answer);
            (answer, text)
        }
        PipelinesCommand::Trigger {
            name,
            params,
            logical_date,
            wait,
        } => {
            let params: Map<String, Value> = params.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = json!({ "params": params, "logical_date": logical_date });
            let run = api
                .post(&format!("/pipelines/{}/runs", segment(&name)), body)
                .await?;
            if wait {
                return wait_for(api, run, as_json).await;
            }
            let text = format!(
                "run {} of {} v{}: {}",
                text_of(&run, "run_id"),
                text_of(&run, "pipeline"),
                run["pipeline_version"],
                text_of(&run, "state")
            );
            (run, text)
        }
        PipelinesCommand::Runs {
            pipeline,
            state,
            limit,
        } => {
            let mut query = vec![("page_size", limit.to_string())];
            query.extend(pipeline.map(|p| ("pipeline", p)));
            query.extend(state.map(|s| ("state", s)));
            let answer = api
                .send(api.request(reqwest::Method::GET, "/pipeline-runs").query(&query))
                .await?;
            let text = render_runs(&answer);
            (answer, text)
        }
        PipelinesCommand::Logs {
            run,
            task,
            try_number,
            follow,
        } => return logs(api, &run, &task, try_number, follow).await,
        PipelinesCommand::Cancel { run } => {
            let answer = api
                .post(&format!("/pipeline-runs/{}/cancel", segment(&run)), json!({}))
                .await?;
            let text = format!("run {run}: {}", text_of(&answer, "state"));
            (answer, text)
        }
        PipelinesCommand::Rerun { run } => {
            let answer = api
                .post(&format!("/pipeline-runs/{}/rerun", segment(&run)), json!({}))
                .await?;
            let text = format!("run {run}: {}", text_of(&answer, "state"));
            (answer, text)
        }
    };
    if as_json {
        print(&answer)
    } else {
        println!("{text}");
        Ok(())
    }
}

/// Sends the definitions in `paths` to be planned or applied.
async fn apply(api: &Api, paths: &[PathBuf], dry_run: bool) -> Result<Value, BoxError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            // Named as the user would find them: under the directory given.
            for mut file in repository_files(path)? {
                let relative = text_of(&file, "path").to_owned();
                file["path"] = Value::String(path.join(relative).to_string_lossy().replace('\\', "/"));
                files.push(file);
            }
        } else {
            let content = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(json!({ "path": path.to_string_lossy(), "content": content }));
        }
    }
    api.post("/pipelines/apply", json!({ "files": files, "dry_run": dry_run }))
        .await
}

/// Follows a triggered run, printing each task's state as it changes, until the run ends;
/// an error unless it succeeded.
async fn wait_for(api: &Api, mut run: Value, as_json: bool) -> Result<(), BoxError> {
    let run_id = text_of(&run, "run_id").to_owned();
    if !as_json {
        println!(
            "run {run_id} of {} v{}",
            text_of(&run, "pipeline"),
            run["pipeline_version"]
        );
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    loop {
        if !as_json {
            for task in run["tasks"].as_array().into_iter().flatten() {
                let (id, state) = (text_of(task, "task_id"), text_of(task, "state"));
                if seen.get(id).is_some_and(|s| s == state) {
                    continue;
                }
                let message = text_of(task, "message");
                if message.is_empty() {
                    println!("  {id}: {state}");
                } else {
                    println!("  {id}: {state} ({message})");
                }
                seen.insert(id.to_owned(), state.to_owned());
            }
        }
        let state = text_of(&run, "state").to_owned();
        match state.as_str() {
            "success" | "failed" | "cancelled" => {
                if as_json {
                    print(&run)?;
                } else {
                    println!("run {run_id}: {state}");
                }
                return if state == "success" {
                    Ok(())
                } else {
                    Err(format!("run {run_id} ended {state}").into())
                };
            }
            _ => {}
        }
        tokio::time::sleep(WAIT_POLL).await;
        run = api.get(&format!("/pipeline-runs/{}", segment(&run_id))).await?;
    }
}

/// Copies a task's log to stdout: what there is, or (`follow`) all of it as it is written.
async fn logs(
    api: &Api,
    run: &str,
    task: &str,
    try_number: Option<u32>,
    follow: bool,
) -> Result<(), BoxError> {
    let mut query: Vec<(&str, String)> = Vec::new();
    query.extend(try_number.map(|n| ("try_number", n.to_string())));
    if follow {
        query.push(("follow", "true".to_owned()));
    }
    let path = format!("/pipeline-runs/{}/tasks/{}/log", segment(run), segment(task));
    let request = api.request(reqwest::Method::GET, &path).query(&query);
    let mut response = Api::successful(request.send().await?).await?;
    // A command-line client: a blocking write to its own stdout stalls nothing else.
    while let Some(chunk) = response.chunk().await? {
        let mut out = std::io::stdout().lock();
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(())
}

/// One line per pipeline, `+` create, `~` update; unchanged ones are counted.
fn render_changes(answer: &Value) -> String {
    let mut lines = Vec::new();
    let mut unchanged = 0;
    for change in answer["changes"].as_array().into_iter().flatten() {
        let name = text_of(change, "name");
        let version = &change["version"];
        let file = text_of(change, "file");
        match text_of(change, "action") {
            "create" => lines.push(format!("+ create {name} v{version} ({file})")),
            "update" => lines.push(format!("~ update {name} v{version} ({file})")),
            _ => {
                unchanged += 1;
                lines.push(format!("  unchanged {name} v{version}"));
            }
        }
    }
    let changed = lines.len() - unchanged;
    let plural = if changed == 1 { "" } else { "s" };
    lines.push(match (changed, answer["applied"].as_bool().unwrap_or(false)) {
        (0, _) => format!("no changes ({unchanged} up to date)"),
        (n, true) => format!("applied {n} change{plural} ({unchanged} unchanged)"),
        (n, false) => format!(
            "{n} change{plural} to apply ({unchanged} unchanged); run `lathe pipelines apply` to apply"
        ),
    });
    lines.join("\n")
}

fn render_pipelines(answer: &Value) -> String {
    let rows = answer["pipelines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                text_of(p, "name").to_owned(),
                p["version"].to_string(),
                p["tasks"].as_array().map_or(0, Vec::len).to_string(),
                schedule_of(p),
                text_of(p, "description").to_owned(),
            ]
        })
        .collect();
    table(&["NAME", "VERSION", "TASKS", "SCHEDULE", "DESCRIPTION"], rows)
}

fn render_pipeline(pipeline: &Value) -> String {
    let mut text = format!(
        "{} v{} (applied by {} at {})\n",
        text_of(pipeline, "name"),
        pipeline["version"],
        text_of(pipeline, "actor"),
        text_of(pipeline, "update_time")
    );
    let description = text_of(pipeline, "description");
    if !description.is_empty() {
        text.push_str(&format!("{description}\n"));
    }
    text.push_str(&format!("schedule: {}\n\n", schedule_of(pipeline)));
    let rows = pipeline["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|task| {
            let depends_on: Vec<&str> = task["depends_on"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            vec![
                text_of(task, "id").to_owned(),
                text_of(task, "kind").to_owned(),
                or_dash(&depends_on.join(",")),
                text_of(task, "trigger_rule").to_owned(),
                or_dash(text_of(task, "when")),
            ]
        })
        .collect();
    text.push_str(&table(
        &["TASK", "KIND", "DEPENDS_ON", "TRIGGER_RULE", "WHEN"],
        rows,
    ));
    text
}

fn render_runs(answer: &Value) -> String {
    let rows = answer["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|run| {
            vec![
                text_of(run, "run_id").to_owned(),
                text_of(run, "pipeline").to_owned(),
                run["pipeline_version"].to_string(),
                text_of(run, "state").to_owned(),
                text_of(run, "trigger").to_owned(),
                text_of(run, "create_time").to_owned(),
            ]
        })
        .collect();
    table(
        &["RUN", "PIPELINE", "VERSION", "STATE", "TRIGGER", "CREATED"],
        rows,
    )
}

fn schedule_of(pipeline: &Value) -> String {
    match text_of(pipeline, "schedule") {
        "" => "-".to_owned(),
        cron => format!("{cron} ({})", text_of(pipeline, "timezone")),
    }
}

/// Columns padded to their widest cell; the last one is not padded.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut line = String::new();
        for (at, cell) in cells.iter().enumerate() {
            if at + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[at]));
            }
        }
        line.trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

fn text_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}
