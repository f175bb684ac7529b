//! Logs a training run to Lathe's experiment tracking through the gateway's REST API: the
//! experiment by name (created if missing), one run with its params and metrics in one batch,
//! the model and metrics files as artifacts, and the run's end status.
//!
//! A run, once created, never stays `RUNNING` because a later step failed: it is ended
//! `FAILED` and the error names the step and the server's message.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Where and as whom to log: the gateway's base URL, a bearer token of an editor of the
/// project, and the project.
#[derive(Clone)]
pub struct Connection {
    url: Url,
    token: String,
    project: String,
}

impl Connection {
    /// Checks the URL is an http(s) base URL.
    pub fn new(url: &str, token: String, project: String) -> Result<Connection, TrackingError> {
        let bad_url = |reason: String| TrackingError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|error| bad_url(error.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
            return Err(bad_url(
                "give the gateway's base URL, e.g. http://127.0.0.1:8080".to_owned(),
            ));
        }
        Ok(Connection {
            url: parsed,
            token,
            project,
        })
    }

    /// The gateway's base URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: never printed.
        formatter
            .debug_struct("Connection")
            .field("url", &self.url.as_str())
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// What one tracking run records.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub experiment: String,
    pub run_name: String,
    pub tags: BTreeMap<String, String>,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<(String, f64)>,
    /// Local files uploaded as artifacts: (path in the run's artifact tree, file).
    pub artifacts: Vec<(String, PathBuf)>,
}

/// The run that was logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRun {
    pub experiment_id: String,
    pub run_id: String,
}

/// A step of logging a run, as errors name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Getting or creating the experiment of this name.
    Experiment {
        name: String,
    },
    CreateRun,
    LogBatch,
    Upload {
        path: String,
    },
    EndRun {
        status: &'static str,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Experiment { name } => write!(formatter, "getting or creating experiment `{name}`"),
            Step::CreateRun => formatter.write_str("creating the run"),
            Step::LogBatch => formatter.write_str("logging params and metrics"),
            Step::Upload { path } => write!(formatter, "uploading artifact `{path}`"),
            Step::EndRun { status } => write!(formatter, "ending the run {status}"),
        }
    }
}

/// Why a request of a step failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The server answered an error; `message` is its error body's (or the raw body).
    #[error("the server answered {status}: {message}")]
    Refused { status: StatusCode, message: String },
    /// No answer: connection refused, timeout, interrupted body; the request's URL and why.
    #[error("no answer from {0}")]
    Unreachable(String),
    /// An answer that is not what the route documents.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The experiment of that name is soft-deleted.
    #[error(
        "the experiment ({0}) is deleted; restore it (`lathe experiments restore {0}`) or pass another --experiment"
    )]
    DeletedExperiment(String),
    #[error("cannot read {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

/// Why logging the run failed; each names the step.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("--experiment needs {flag} (or env {env})")]
    MissingSetting { flag: &'static str, env: &'static str },
    #[error("--url `{url}` is not an http(s) URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
    /// A step before the run existed failed; nothing was logged.
    #[error("tracking to {url}: {step} failed: {cause}")]
    BeforeRun { url: String, step: Step, cause: Cause },
    /// A step after the run was created failed; the run was ended FAILED.
    #[error("tracking run {run_id}: {step} failed: {cause}; the run is marked FAILED")]
    RunFailed {
        run_id: String,
        step: Step,
        cause: Cause,
    },
    /// A step after the run was created failed, and so did marking it FAILED.
    #[error(
        "tracking run {run_id}: {step} failed: {cause}; marking the run FAILED failed too ({end_cause}), so it may still show RUNNING"
    )]
    RunLeftRunning {
        run_id: String,
        step: Step,
        cause: Cause,
        // Boxed: keeps the error small, for the rare case it is.
        end_cause: Box<Cause>,
    },
}

/// Connect and overall limits of one request; a model file is small, so one bound fits all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Experiments listed per page when looking one up by name (the route's maximum).
const EXPERIMENT_PAGE: u32 = 1000;

/// Logs `record` as one run; blocks on a current-thread runtime of its own, so it must not be
/// called from inside an async runtime.
pub fn log_run(connection: &Connection, record: &RunRecord) -> Result<LoggedRun, TrackingError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| TrackingError::Client(error.to_string()))?;
    runtime.block_on(async {
        let api = Api::new(connection)?;
        api.log_run(record).await
    })
}

/// The project's REST routes under `{url}/api/v1/projects/{project}`.
struct Api {
    http: reqwest::Client,
    base: Url,
    project: String,
    token: String,
}

#[derive(Deserialize)]
struct Experiment {
    experiment_id: String,
    name: String,
    lifecycle_stage: String,
}

#[derive(Deserialize)]
struct ExperimentList {
    #[serde(default)]
    experiments: Vec<Experiment>,
    #[serde(default)]
    next_page_token: String,
}

#[derive(Deserialize)]
struct Run {
    run_id: String,
}

impl Api {
    fn new(connection: &Connection) -> Result<Api, TrackingError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| TrackingError::Client(error.to_string()))?;
        Ok(Api {
            http,
            base: connection.url.clone(),
            project: connection.project.clone(),
            token: connection.token.clone(),
        })
    }

    /// `{base}/api/v1/projects/{project}/{segments…}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("checked by Connection::new: the base URL can be a base");
            path.pop_if_empty()
                .extend(["api", "v1", "projects", self.project.as_str()])
                .extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// Sends `request` and returns the body of a 2xx answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, Cause> {
        let request = request
            .build()
            .map_err(|error| Cause::Unexpected(error.to_string()))?;
        let url = request.url().to_string();
        // The URL is said once, not again in each of reqwest's messages.
        let unreachable = |error: reqwest::Error| {
            Cause::Unreachable(format!("{url}: {}", error_chain(&error.without_url())))
        };
        let response = self.http.execute(request).await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(Cause::Refused {
            status,
            message: error_message(&body),
        })
    }

    async fn send_json<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Cause> {
        let body = self.send(request).await?;
        serde_json::from_slice(&body).map_err(|error| Cause::Unexpected(error.to_string()))
    }

    async fn log_run(&self, record: &RunRecord) -> Result<LoggedRun, TrackingError> {
        let before_run = |step: Step| {
            let url = self.base.to_string();
            move |cause: Cause| TrackingError::BeforeRun { url, step, cause }
        };
        let experiment_id =
            self.experiment_id(&record.experiment)
                .await
                .map_err(before_run(Step::Experiment {
                    name: record.experiment.clone(),
                }))?;
        let run: Run = self
            .send_json(self.request(Method::POST, self.url(&["runs"])).json(&json!({
                "experiment_id": experiment_id,
                "name": record.run_name,
                "tags": record.tags,
            })))
            .await
            .map_err(before_run(Step::CreateRun))?;

        if let Err((step, cause)) = self.fill_run(&run.run_id, record).await {
            let run_id = run.run_id;
            return Err(match self.end_run(&run_id, "FAILED").await {
                Ok(()) => TrackingError::RunFailed { run_id, step, cause },
                Err(end_cause) => TrackingError::RunLeftRunning {
                    run_id,
                    step,
                    cause,
                    end_cause: Box::new(end_cause),
                },
            });
        }
        Ok(LoggedRun {
            experiment_id,
            run_id: run.run_id,
        })
    }

    /// Everything after the run's creation, ending with its FINISHED status.
    async fn fill_run(&self, run_id: &str, record: &RunRecord) -> Result<(), (Step, Cause)> {
        // JSON has no NaN nor infinity (an AUC of a one-class holdout is NaN): such a metric
        // is left out rather than sent as null, which the route refuses.
        let metrics: Vec<Value> = record
            .metrics
            .iter()
            .filter(|(_, value)| value.is_finite())
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect();
        let params: Vec<Value> = record
            .params
            .iter()
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect();
        self.send(
            self.request(Method::POST, self.url(&["runs", run_id, "log-batch"]))
                .json(&json!({ "metrics": metrics, "params": params })),
        )
        .await
        .map_err(|cause| (Step::LogBatch, cause))?;

        for (path, file) in &record.artifacts {
            self.upload(run_id, path, file).await.map_err(|cause| {
                (
                    Step::Upload {
                        path: path.to_owned(),
                    },
                    cause,
                )
            })?;
        }

        self.end_run(run_id, "FINISHED")
            .await
            .map_err(|cause| (Step::EndRun { status: "FINISHED" }, cause))
    }

    /// Streams `file` to the run's artifact `path`.
    async fn upload(&self, run_id: &str, path: &str, file: &std::path::Path) -> Result<(), Cause> {
        let file_error = |source: std::io::Error| Cause::File {
            path: file.to_owned(),
            source,
        };
        let handle = tokio::fs::File::open(file).await.map_err(file_error)?;
        let size = handle.metadata().await.map_err(file_error)?.len();
        let mut segments = vec!["runs", run_id, "artifacts"];
        segments.extend(path.split('/'));
        self.send(
            self.request(Method::PUT, self.url(&segments))
                .header(reqwest::header::CONTENT_LENGTH, size)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::Body::from(handle)),
        )
        .await
        .map(drop)
    }

    async fn end_run(&self, run_id: &str, status: &'static str) -> Result<(), Cause> {
        self.send(
            self.request(Method::PATCH, self.url(&["runs", run_id]))
                .json(&json!({ "status": status })),
        )
        .await
        .map(drop)
    }

    /// The id of the experiment `name`, created if the project has none of that name.
    async fn experiment_id(&self, name: &str) -> Result<String, Cause> {
        let created = self
            .send_json::<Experiment>(
                self.request(Method::POST, self.url(&["experiments"]))
                    .json(&json!({ "name": name })),
            )
            .await;
        match created {
            Ok(experiment) => Ok(experiment.experiment_id),
            Err(Cause::Refused { status, .. }) if status == StatusCode::CONFLICT => {
                self.existing_experiment(name).await
            }
            Err(cause) => Err(cause),
        }
    }

    /// The experiment `name` that exists (creating it answered a conflict), if it is active.
    async fn existing_experiment(&self, name: &str) -> Result<String, Cause> {
        let mut page_token = String::new();
        loop {
            let mut url = self.url(&["experiments"]);
            url.query_pairs_mut()
                .append_pair("view", "all")
                .append_pair("page_size", &EXPERIMENT_PAGE.to_string());
            if !page_token.is_empty() {
                url.query_pairs_mut().append_pair("page_token", &page_token);
            }
            let page: ExperimentList = self.send_json(self.request(Method::GET, url)).await?;
            if let Some(found) = page.experiments.into_iter().find(|found| found.name == name) {
                return if found.lifecycle_stage == "active" {
                    Ok(found.experiment_id)
                } else {
                    Err(Cause::DeletedExperiment(found.experiment_id))
                };
            }
            if page.next_page_token.is_empty() {
                return Err(Cause::Unexpected(format!(
                    "creating experiment `{name}` answered that it exists, but the project's experiments do not list it"
                )));
            }
            page_token = page.next_page_token;
        }
    }
}

/// The message of a Lathe error body (`{"code", "message", "type"}`) as `message (code)`, else
/// the body as text.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|body| body.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (field("message"), field("code")) {
        (Some(message), Some(code)) => format!("{message} ({code})"),
        (Some(message), None) => message,
        (None, Some(_) | None) => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                "(empty body)".to_owned()
            } else {
                text
            }
        }
    }
}

/// An error with its sources, `outer: inner: …` (reqwest's own message hides the cause, e.g.
/// "connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_the_error_body_or_the_raw_text() {
        assert_eq!(
            error_message(br#"{"code":"unauthenticated","message":"bad token","type":"auth"}"#),
            "bad token (unauthenticated)"
        );
        assert_eq!(error_message(b"gateway timeout\n"), "gateway timeout");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_each_segment() {
        let connection = Connection::new(
            "http://lathe.internal:8080/base/",
            "secret-token".to_owned(),
            "churn".to_owned(),
        )
        .expect("a valid base URL");
        let api = Api::new(&connection).expect("a client");
        assert_eq!(
            api.url(&["runs", "a b", "artifacts", "model", "model.onnx"])
                .as_str(),
            "http://lathe.internal:8080/base/api/v1/projects/churn/runs/a%20b/artifacts/model/model.onnx"
        );
        let not_http = Connection::new("lathe.internal:8080", "t".to_owned(), "churn".to_owned());
        assert!(
            matches!(not_http, Err(TrackingError::BadUrl { .. })),
            "{not_http:?}"
        );
        assert!(
            !format!("{connection:?}").contains("secret-token"),
            "the token is not printed"
        );
    }
}
