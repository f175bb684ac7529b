//! `lathe features plan|apply DIR`: sends a feature repository (every `*.yaml`/`*.yml` file
//! under DIR) to the feature store, which checks it, shows what would change and applies it
//! atomically.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Api, BoxError};

#[derive(Subcommand)]
pub enum FeaturesCommand {
    /// Show what applying the repository in DIR would change.
    Plan { dir: PathBuf },
    /// Apply the repository in DIR: create, update and delete definitions to match it.
    Apply { dir: PathBuf },
    /// Build a point-in-time correct training set from an entity frame (Parquet or CSV).
    Historical {
        /// Entity frame with the join keys and `event_timestamp`; `.csv` files are read as CSV.
        #[arg(long)]
        entities: PathBuf,
        /// Comma-separated `view:feature` references.
        #[arg(long, conflicts_with = "feature_service")]
        features: Option<String>,
        #[arg(long)]
        feature_service: Option<String>,
        /// Name output columns `view__feature`.
        #[arg(long)]
        full_feature_names: bool,
        /// Where to write the training set (Parquet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the latest values of [start, end] into the online store.
    Materialize {
        /// RFC 3339 time, e.g. 2026-01-01T00:00:00Z.
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        /// Feature views; every online view when absent.
        #[arg(long = "view")]
        views: Vec<String>,
    },
    /// Write FILE (Parquet, or CSV by its `.csv` extension) under a file source's folder, after
    /// the server checks its columns against every feature view that reads the source.
    Ingest {
        file: PathBuf,
        /// The file source (its path must be a folder).
        #[arg(long)]
        source: String,
    },
    /// Materialize each view from where its last run stopped up to END.
    MaterializeIncremental {
        #[arg(long)]
        end: String,
        #[arg(long = "view")]
        views: Vec<String>,
    },
}

/// Every YAML file under `dir`, with paths relative to it, in a stable order.
pub fn repository_files(dir: &Path) -> Result<Vec<Value>, BoxError> {
    let mut found = Vec::new();
    collect(dir, dir, &mut found)?;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.is_empty() {
        return Err(format!("{} holds no .yaml or .yml files", dir.display()).into());
    }
    Ok(found
        .into_iter()
        .map(|(path, content)| json!({ "path": path, "content": content }))
        .collect())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), BoxError> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let content = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, content));
        }
    }
    Ok(())
}

/// One line per change, `+` create, `~` update, `-` delete; unchanged ones are counted.
fn render(answer: &Value) -> String {
    let mut lines = Vec::new();
    let mut unchanged = 0;
    for change in answer["changes"].as_array().into_iter().flatten() {
        let (mark, verb) = match change["action"].as_str().unwrap_or_default() {
            "create" => ("+", "create"),
            "update" => ("~", "update"),
            "delete" => ("-", "delete"),
            _ => {
                unchanged += 1;
                continue;
            }
        };
        let kind = change["kind"].as_str().unwrap_or_default();
        let name = change["name"].as_str().unwrap_or_default();
        let detail = change["detail"].as_str().unwrap_or_default();
        let version = change["version"]
            .as_u64()
            .filter(|v| *v > 0)
            .map(|v| format!(" v{v}"))
            .unwrap_or_default();
        lines.push(format!(
            "{mark} {verb} {kind} {name}{version}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        ));
    }
    let applied = answer["applied"].as_bool().unwrap_or(false);
    let summary = match (lines.len(), applied) {
        (0, _) => format!("no changes ({unchanged} definitions up to date)"),
        (n, true) => format!(
            "applied {n} change{} ({unchanged} unchanged)",
            if n == 1 { "" } else { "s" }
        ),
        (n, false) => format!(
            "{n} change{} to apply ({unchanged} unchanged); run `lathe features apply` to apply",
            if n == 1 { "" } else { "s" }
        ),
    };
    lines.push(summary);
    lines.join("\n")
}

pub async fn features(api: &Api, command: FeaturesCommand) -> Result<(), BoxError> {
    let (dir, dry_run) = match command {
        FeaturesCommand::Plan { dir } => (dir, true),
        FeaturesCommand::Apply { dir } => (dir, false),
        FeaturesCommand::Historical {
            entities,
            features,
            feature_service,
            full_feature_names,
            out,
        } => {
            return historical(
                api,
                &entities,
                features,
                feature_service,
                full_feature_names,
                &out,
            )
            .await;
        }
        FeaturesCommand::Materialize { start, end, views } => {
            let body = json!({ "start": start, "end": end, "feature_views": views });
            return materialize(api, body).await;
        }
        FeaturesCommand::Ingest { file, source } => return ingest(api, &file, &source).await,
        FeaturesCommand::MaterializeIncremental { end, views } => {
            let body = json!({ "incremental": true, "end": end, "feature_views": views });
            return materialize(api, body).await;
        }
    };
    let files = repository_files(&dir)?;
    let answer = api
        .post("/features/apply", json!({ "files": files, "dry_run": dry_run }))
        .await?;
    println!("{}", render(&answer));
    Ok(())
}

/// Runs a materialization, showing its progress on stderr and its summary on stdout.
async fn materialize(api: &Api, body: Value) -> Result<(), BoxError> {
    super::print(&run_materialization(api, body, Some("")).await?)
}

/// Runs a materialization, showing its progress on stderr (each line after `indent`; none
/// without one); returns its summary.
pub async fn run_materialization(api: &Api, body: Value, indent: Option<&str>) -> Result<Value, BoxError> {
    let request = api
        .request(reqwest::Method::POST, "/features/materialize")
        .header(reqwest::header::ACCEPT, "application/x-ndjson")
        .json(&body);
    let mut response = Api::successful(request.send().await?).await?;
    let mut progress = Progress::new(std::io::stderr().is_terminal(), indent.unwrap_or_default());
    let mut pending = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let event: Value = serde_json::from_slice(&line)?;
            if let Some(report) = event.get("progress") {
                if indent.is_some() {
                    progress.show(report);
                }
            } else if let Some(done) = event.get("done") {
                progress.finish();
                return Ok(done.clone());
            } else if let Some(error) = event.get("error") {
                progress.finish();
                return Err(super::error_detail(error)
                    .unwrap_or_else(|| error.to_string())
                    .into());
            }
        }
    }
    progress.finish();
    Err("the server ended the materialization without a summary".into())
}

/// One status line per view: rewritten in place on a terminal, else printed every few seconds
/// and when a view's phase ends.
struct Progress {
    terminal: bool,
    /// Printed before each line.
    indent: String,
    last_printed: Option<Instant>,
    /// The latest line not printed yet (off a terminal).
    unprinted: Option<String>,
    view: String,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(2);

    fn new(terminal: bool, indent: &str) -> Progress {
        Progress {
            terminal,
            indent: indent.to_owned(),
            last_printed: None,
            unprinted: None,
            view: String::new(),
        }
    }

    fn show(&mut self, report: &Value) {
        let number = |field: &str| report.get(field).and_then(Value::as_u64).unwrap_or(0);
        let view = report
            .get("feature_view")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (scanned, rows) = (number("rows_scanned"), number("rows_total"));
        let (written, entities) = (number("entities_written"), number("entities_total"));
        let indent = &self.indent;
        let line = if entities == 0 && written == 0 {
            format!(
                "{indent}{view}: scanned {scanned} of {rows} rows ({}%)",
                percent(scanned, rows)
            )
        } else {
            format!(
                "{indent}{view}: {rows} rows scanned; wrote {written} of {entities} entities ({}%)",
                percent(written, entities)
            )
        };
        if self.view != view {
            self.finish();
            self.view = view.to_owned();
        }
        if self.terminal {
            eprint!("\r\x1b[K{line}");
            return;
        }
        if self.last_printed.is_none_or(|t| t.elapsed() >= Progress::EVERY) {
            eprintln!("{line}");
            self.last_printed = Some(Instant::now());
            self.unprinted = None;
        } else {
            self.unprinted = Some(line);
        }
    }

    /// Ends the current view's line.
    fn finish(&mut self) {
        if self.terminal {
            if !self.view.is_empty() {
                eprintln!();
            }
        } else if let Some(line) = self.unprinted.take() {
            eprintln!("{line}");
        }
        self.view.clear();
        self.last_printed = None;
    }
}

fn percent(done: u64, total: u64) -> u64 {
    done.saturating_mul(100).checked_div(total).unwrap_or(100)
}

/// Streams `file` to the source's ingest route and prints what was written.
async fn ingest(api: &Api, file: &Path, source: &str) -> Result<(), BoxError> {
    let opened = tokio::fs::File::open(file)
        .await
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let csv = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let request = api
        .request(
            reqwest::Method::POST,
            &format!("/features/sources/{source}/ingest"),
        )
        .header(
            reqwest::header::CONTENT_TYPE,
            if csv {
                "text/csv"
            } else {
                "application/vnd.apache.parquet"
            },
        )
        .body(reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(
            opened,
        )));
    let answer = api.send(request).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

async fn historical(
    api: &Api,
    entities: &Path,
    features: Option<String>,
    feature_service: Option<String>,
    full_feature_names: bool,
    out: &Path,
) -> Result<(), BoxError> {
    let frame = std::fs::read(entities).map_err(|e| format!("{}: {e}", entities.display()))?;
    let csv = entities
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut query: Vec<(&str, String)> = Vec::new();
    match (features, feature_service) {
        (Some(features), None) => query.push(("features", features)),
        (None, Some(service)) => query.push(("feature_service", service)),
        _ => return Err("give --features view:feature,… or --feature-service NAME".into()),
    }
    if full_feature_names {
        query.push(("full_feature_names", "true".to_owned()));
    }
    let request = api
        .request(reqwest::Method::POST, "/features/historical")
        .query(&query)
        .header(
            reqwest::header::CONTENT_TYPE,
            if csv {
                "text/csv"
            } else {
                "application/vnd.apache.parquet"
            },
        )
        .body(frame);
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["message"].as_str().unwrap_or_default();
        return Err(format!(
            "{status}: {message} ({})",
            body["code"].as_str().unwrap_or_default()
        )
        .into());
    }
    let rows = response
        .headers()
        .get("x-lathe-rows")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let bytes = response.bytes().await?;
    let partial = out.with_extension("part");
    std::fs::write(&partial, &bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, out)?;
    println!("wrote {rows} rows to {}", out.display());
    Ok(())
}
