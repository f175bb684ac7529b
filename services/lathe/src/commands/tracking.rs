//! `lathe experiments …` and `lathe runs …`.

use std::path::PathBuf;

use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use super::{Api, BoxError, key_value, print, segment};

#[derive(Subcommand)]
pub enum ExperimentsCommand {
    /// Create an experiment.
    Create {
        name: String,
        /// A tag, `key=value`; repeatable.
        #[arg(long = "tag", value_parser = key_value)]
        tags: Vec<(String, String)>,
    },
    /// List experiments.
    List {
        /// active, deleted or all.
        #[arg(long, default_value = "active")]
        view: String,
    },
    /// Show one experiment.
    Get { experiment_id: String },
    /// Soft-delete an experiment (restore brings it back).
    Delete { experiment_id: String },
    /// Restore a deleted experiment.
    Restore { experiment_id: String },
}

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Start a run in an experiment.
    Create {
        #[arg(long)]
        experiment: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "tag", value_parser = key_value)]
        tags: Vec<(String, String)>,
    },
    /// Show a run with its params, tags and latest metrics.
    Get { run_id: String },
    /// Log metrics (`key=value` or `key=value@step`), params and tags in one atomic batch.
    Log {
        run_id: String,
        #[arg(long = "metric", value_parser = key_value)]
        metrics: Vec<(String, String)>,
        #[arg(long = "param", value_parser = key_value)]
        params: Vec<(String, String)>,
        #[arg(long = "tag", value_parser = key_value)]
        tags: Vec<(String, String)>,
    },
    /// Finish a run.
    End {
        run_id: String,
        /// FINISHED, FAILED or KILLED.
        #[arg(long, default_value = "FINISHED")]
        status: String,
    },
    /// Search runs, e.g. `--filter "metrics.accuracy > 0.9 and params.solver = 'lbfgs'"`.
    Search {
        #[arg(long = "experiment")]
        experiments: Vec<String>,
        #[arg(long, default_value = "")]
        filter: String,
        #[arg(long = "order-by")]
        order_by: Vec<String>,
        #[arg(long)]
        page_size: Option<u32>,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Upload a file as a run artifact (streamed).
    Upload {
        run_id: String,
        file: PathBuf,
        /// Path inside the run's artifacts; default: the file name.
        #[arg(long)]
        path: Option<String>,
    },
    /// Download a run artifact (streamed).
    Download {
        run_id: String,
        path: String,
        /// Where to write; default: the artifact's file name.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List a run's artifacts.
    Artifacts {
        run_id: String,
        #[arg(long, default_value = "")]
        path: String,
    },
    /// Delete a run and its artifacts.
    Delete { run_id: String },
}

fn tags_object(tags: Vec<(String, String)>) -> Value {
    Value::Object(
        tags.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect::<Map<_, _>>(),
    )
}

fn pairs(items: Vec<(String, String)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect(),
    )
}

pub async fn experiments(api: &Api, command: ExperimentsCommand) -> Result<(), BoxError> {
    let answer = match command {
        ExperimentsCommand::Create { name, tags } => {
            api.post("/experiments", json!({ "name": name, "tags": tags_object(tags) }))
                .await?
        }
        ExperimentsCommand::List { view } => {
            api.get(&format!("/experiments?view={}", segment(&view))).await?
        }
        ExperimentsCommand::Get { experiment_id } => {
            api.get(&format!("/experiments/{}", segment(&experiment_id)))
                .await?
        }
        ExperimentsCommand::Delete { experiment_id } => {
            api.delete(&format!("/experiments/{}", segment(&experiment_id)))
                .await?
        }
        ExperimentsCommand::Restore { experiment_id } => {
            api.post(
                &format!("/experiments/{}/restore", segment(&experiment_id)),
                json!({}),
            )
            .await?
        }
    };
    print(&answer)
}

fn parse_metric((key, text): (String, String)) -> Result<Value, BoxError> {
    let (value, step) = match text.split_once('@') {
        Some((value, step)) => (
            value,
            step.parse::<i64>()
                .map_err(|_| format!("metric {key}: bad step '{step}'"))?,
        ),
        None => (text.as_str(), 0),
    };
    let value: f64 = value
        .parse()
        .map_err(|_| format!("metric {key}: '{value}' is not a number"))?;
    Ok(json!({ "key": key, "value": value, "step": step }))
}

pub async fn runs(api: &Api, command: RunsCommand) -> Result<(), BoxError> {
    let answer = match command {
        RunsCommand::Create {
            experiment,
            name,
            tags,
        } => {
            api.post(
                "/runs",
                json!({ "experiment_id": experiment, "name": name, "tags": tags_object(tags) }),
            )
            .await?
        }
        RunsCommand::Get { run_id } => api.get(&format!("/runs/{}", segment(&run_id))).await?,
        RunsCommand::Log {
            run_id,
            metrics,
            params,
            tags,
        } => {
            let metrics = metrics
                .into_iter()
                .map(parse_metric)
                .collect::<Result<Vec<_>, _>>()?;
            let body = json!({ "metrics": metrics, "params": pairs(params), "tags": pairs(tags) });
            api.post(&format!("/runs/{}/log-batch", segment(&run_id)), body)
                .await?
        }
        RunsCommand::End { run_id, status } => {
            api.patch(
                &format!("/runs/{}", segment(&run_id)),
                json!({ "status": status.to_uppercase() }),
            )
            .await?
        }
        RunsCommand::Search {
            experiments,
            filter,
            order_by,
            page_size,
            page_token,
        } => {
            let body = json!({
                "experiment_ids": experiments,
                "filter": filter,
                "order_by": order_by,
                "page_size": page_size,
                "page_token": page_token,
            });
            api.post("/runs/search", body).await?
        }
        RunsCommand::Upload { run_id, file, path } => {
            let name = match path {
                Some(path) => path,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or("cannot name the artifact; pass --path")?
                    .to_owned(),
            };
            let handle = tokio::fs::File::open(&file)
                .await
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let size = handle.metadata().await?.len();
            let body =
                reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(handle, 1024 * 1024));
            let url_path = format!("/runs/{}/artifacts/{}", segment(&run_id), encode_path(&name));
            let request = api
                .request(reqwest::Method::PUT, &url_path)
                .header(reqwest::header::CONTENT_LENGTH, size)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(body);
            api.send(request).await?
        }
        RunsCommand::Download { run_id, path, out } => {
            let target = out.unwrap_or_else(|| PathBuf::from(path.rsplit('/').next().unwrap_or("artifact")));
            let url_path = format!("/runs/{}/artifacts/{}", segment(&run_id), encode_path(&path));
            let response = api.request(reqwest::Method::GET, &url_path).send().await?;
            if !response.status().is_success() {
                let status = response.status();
                return Err(format!("{status}: {}", response.text().await.unwrap_or_default()).into());
            }
            let sha256 = response
                .headers()
                .get("x-lathe-sha256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let partial = target.with_extension("part");
            let mut file = tokio::fs::File::create(&partial).await?;
            let mut body = response.bytes_stream();
            let mut written: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.sync_all().await?;
            tokio::fs::rename(&partial, &target).await?;
            json!({ "path": target.display().to_string(), "size": written, "sha256": sha256 })
        }
        RunsCommand::Artifacts { run_id, path } => {
            api.get(&format!(
                "/runs/{}/artifacts?path={}",
                segment(&run_id),
                segment(&path)
            ))
            .await?
        }
        RunsCommand::Delete { run_id } => api.delete(&format!("/runs/{}", segment(&run_id))).await?,
    };
    print(&answer)
}

/// Percent-encodes each segment of an artifact path, keeping the slashes.
fn encode_path(path: &str) -> String {
    path.split('/').map(segment).collect::<Vec<_>>().join("/")
}
