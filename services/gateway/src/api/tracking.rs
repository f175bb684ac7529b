//! Experiment tracking, stored by the registry-service: experiments, runs, batches of metrics,
//! params and tags, metric history and run search. Reads need `viewer`, writes `editor`, both
//! the project in the token.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use lathe_common::Error;
use lathe_common::auth::Role;
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::projects::ListQuery;
use super::rfc3339;
use crate::auth::Authenticated;
use crate::backends::Backends;
use crate::error::{ApiError, ErrorBody};

/// Whether an experiment or run is live or soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Active,
    Deleted,
}

impl TryFrom<i32> for Lifecycle {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self, Error> {
        match pb::LifecycleStage::try_from(value) {
            Ok(pb::LifecycleStage::Active) => Ok(Lifecycle::Active),
            Ok(pb::LifecycleStage::Deleted) => Ok(Lifecycle::Deleted),
            Ok(pb::LifecycleStage::Unspecified) | Err(_) => {
                Err(Error::internal(format_args!("stored lifecycle stage {value}")))
            }
        }
    }
}

/// Which experiments or runs a listing includes; `active` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum View {
    #[default]
    Active,
    Deleted,
    All,
}

impl From<View> for pb::ViewType {
    fn from(view: View) -> Self {
        match view {
            View::Active => pb::ViewType::ActiveOnly,
            View::Deleted => pb::ViewType::DeletedOnly,
            View::All => pb::ViewType::All,
        }
    }
}

/// State of a run. Accepted in any letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Killed,
    Scheduled,
}

impl<'de> Deserialize<'de> for RunStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_uppercase().as_str() {
            "RUNNING" => Ok(RunStatus::Running),
            "FINISHED" => Ok(RunStatus::Finished),
            "FAILED" => Ok(RunStatus::Failed),
            "KILLED" => Ok(RunStatus::Killed),
            "SCHEDULED" => Ok(RunStatus::Scheduled),
            _ => Err(serde::de::Error::custom(format!(
                "unknown run status '{text}': expected RUNNING, FINISHED, FAILED, KILLED or SCHEDULED"
            ))),
        }
    }
}

impl From<RunStatus> for pb::RunStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Running => pb::RunStatus::Running,
            RunStatus::Finished => pb::RunStatus::Finished,
            RunStatus::Failed => pb::RunStatus::Failed,
            RunStatus::Killed => pb::RunStatus::Killed,
            RunStatus::Scheduled => pb::RunStatus::Scheduled,
        }
    }
}

impl TryFrom<i32> for RunStatus {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self, Error> {
        match pb::RunStatus::try_from(value) {
            Ok(pb::RunStatus::Running) => Ok(RunStatus::Running),
            Ok(pb::RunStatus::Finished) => Ok(RunStatus::Finished),
            Ok(pb::RunStatus::Failed) => Ok(RunStatus::Failed),
            Ok(pb::RunStatus::Killed) => Ok(RunStatus::Killed),
            Ok(pb::RunStatus::Scheduled) => Ok(RunStatus::Scheduled),
            Ok(pb::RunStatus::Unspecified) | Err(_) => {
                Err(Error::internal(format_args!("stored run status {value}")))
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Experiment {
    pub project: String,
    pub experiment_id: String,
    pub name: String,
    pub lifecycle_stage: Lifecycle,
    pub tags: HashMap<String, String>,
    /// Where the artifacts of the experiment's runs are stored.
    pub artifact_location: String,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
}

impl TryFrom<pb::Experiment> for Experiment {
    type Error = Error;

    fn try_from(e: pb::Experiment) -> Result<Self, Error> {
        Ok(Experiment {
            project: e.project,
            experiment_id: e.experiment_id,
            name: e.name,
            lifecycle_stage: Lifecycle::try_from(e.lifecycle_stage)?,
            tags: e.tags,
            artifact_location: e.artifact_location,
            create_time: rfc3339(e.create_time),
            update_time: rfc3339(e.update_time),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct Metric {
    #[schema(example = "accuracy")]
    pub key: String,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    pub step: i64,
}

impl From<pb::Metric> for Metric {
    fn from(m: pb::Metric) -> Self {
        Metric {
            key: m.key,
            value: m.value,
            timestamp_ms: m.timestamp_ms,
            step: m.step,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Run {
    pub project: String,
    pub run_id: String,
    pub experiment_id: String,
    pub name: String,
    pub status: RunStatus,
    /// Milliseconds since the epoch.
    pub start_time_ms: i64,
    /// Milliseconds since the epoch; 0 while running.
    pub end_time_ms: i64,
    pub user_id: String,
    pub lifecycle_stage: Lifecycle,
    pub artifact_uri: String,
    pub params: HashMap<String, String>,
    pub tags: HashMap<String, String>,
    /// The latest value per key: the highest step, then the latest timestamp.
    pub latest_metrics: Vec<Metric>,
}

impl TryFrom<pb::Run> for Run {
    type Error = Error;

    fn try_from(r: pb::Run) -> Result<Self, Error> {
        Ok(Run {
            project: r.project,
            run_id: r.run_id,
            experiment_id: r.experiment_id,
            name: r.name,
            status: RunStatus::try_from(r.status)?,
            start_time_ms: r.start_time_ms,
            end_time_ms: r.end_time_ms,
            user_id: r.user_id,
            lifecycle_stage: Lifecycle::try_from(r.lifecycle_stage)?,
            artifact_uri: r.artifact_uri,
            params: r.params,
            tags: r.tags,
            latest_metrics: r.latest_metrics.into_iter().map(Metric::from).collect(),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExperiment {
    #[schema(example = "churn-baseline")]
    pub name: String,
    #[serde(default)]
    pub tags: HashMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExperiment {
    /// Renames the experiment.
    pub name: Option<String>,
    /// Merged into the existing tags.
    #[serde(default)]
    pub set_tags: HashMap<String, String>,
    #[serde(default)]
    pub delete_tags: Vec<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListExperimentsQuery {
    /// `active` (default), `deleted` or `all`.
    pub view: Option<View>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExperimentList {
    pub experiments: Vec<Experiment>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    pub experiment_id: String,
    #[serde(default)]
    pub name: String,
    /// Defaults to the token's subject.
    pub user_id: Option<String>,
    /// Milliseconds since the epoch; defaults to now.
    pub start_time_ms: Option<i64>,
    #[serde(default)]
    pub tags: HashMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRun {
    pub status: RunStatus,
    /// Milliseconds since the epoch; defaults to now when the status is terminal.
    pub end_time_ms: Option<i64>,
    pub name: Option<String>,
}

/// One metric value to log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogMetric {
    #[schema(example = "accuracy")]
    pub key: String,
    pub value: f64,
    /// Milliseconds since the epoch; defaults to now.
    pub timestamp_ms: Option<i64>,
    /// Defaults to 0.
    pub step: Option<i64>,
}

/// A param or tag.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogBatch {
    #[serde(default)]
    pub metrics: Vec<LogMetric>,
    /// A param, once logged, cannot change value.
    #[serde(default)]
    pub params: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Serialize, ToSchema)]
pub struct MetricHistory {
    pub metrics: Vec<Metric>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRuns {
    /// Empty or absent means every experiment of the project.
    #[serde(default)]
    pub experiment_ids: Vec<String>,
    /// e.g. `metrics.accuracy > 0.9 and params.solver = 'lbfgs'`. At most 100,000 characters and
    /// 100 conditions, comparing with at most 10,000 values in all and 1,000 in one IN list.
    #[serde(default)]
    #[schema(example = "metrics.accuracy > 0.9 and params.solver = 'lbfgs'")]
    pub filter: String,
    /// `active` (default), `deleted` or `all`.
    #[serde(default)]
    pub view: View,
    /// e.g. `metrics.accuracy DESC`; default `attributes.start_time DESC`.
    #[serde(default)]
    pub order_by: Vec<String>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<Run>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// Creates an experiment (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/experiments",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path)),
    request_body = CreateExperiment,
    responses(
        (status = 201, body = Experiment), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such project"),
        (status = 409, body = ErrorBody),
    ),
)]
#[post("")]
pub async fn create_experiment(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    body: web::Json<CreateExperiment>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::CreateExperimentRequest {
        project: project.into_inner(),
        name: body.name,
        tags: body.tags,
    };
    let experiment = backends
        .tracking
        .clone()
        .create_experiment(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Created().json(Experiment::try_from(experiment)?))
}

/// Experiments of a project.
#[utoipa::path(
    path = "/api/v1/projects/{project}/experiments",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ListExperimentsQuery),
    responses((status = 200, body = ExperimentList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
)]
#[get("")]
pub async fn list_experiments(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    query: web::Query<ListExperimentsQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let query = query.into_inner();
    let request = pb::ListExperimentsRequest {
        project: project.into_inner(),
        view: pb::ViewType::from(query.view.unwrap_or_default()) as i32,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let response = backends
        .tracking
        .clone()
        .list_experiments(request)
        .await?
        .into_inner();
    let experiments = response
        .experiments
        .into_iter()
        .map(Experiment::try_from)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(ExperimentList {
        experiments,
        next_page_token: response.next_page_token,
    }))
}

/// One experiment, active or deleted.
#[utoipa::path(
    path = "/api/v1/projects/{project}/experiments/{experiment_id}",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("experiment_id" = String, Path)),
    responses((status = 200, body = Experiment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{experiment_id}")]
pub async fn get_experiment(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, experiment_id) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let request = pb::GetExperimentRequest {
        project,
        experiment_id,
        name: String::new(),
    };
    let experiment = backends
        .tracking
        .clone()
        .get_experiment(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Experiment::try_from(experiment)?))
}

/// Renames an experiment or changes its tags (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/experiments/{experiment_id}",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("experiment_id" = String, Path)),
    request_body = UpdateExperiment,
    responses(
        (status = 200, body = Experiment), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
)]
#[patch("/{experiment_id}")]
pub async fn update_experiment(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateExperiment>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, experiment_id) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::UpdateExperimentRequest {
        project,
        experiment_id,
        new_name: body.name,
        set_tags: body.set_tags,
        delete_tags: body.delete_tags,
    };
    let experiment = backends
        .tracking
        .clone()
        .update_experiment(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Experiment::try_from(experiment)?))
}

/// Soft-deletes an experiment (editor); it and its runs stay readable and can be restored.
#[utoipa::path(
    path = "/api/v1/projects/{project}/experiments/{experiment_id}",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("experiment_id" = String, Path)),
    responses((status = 200, body = Experiment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[delete("/{experiment_id}")]
pub async fn delete_experiment(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, experiment_id) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let experiment = backends
        .tracking
        .clone()
        .delete_experiment(pb::ExperimentRef {
            project,
            experiment_id,
        })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Experiment::try_from(experiment)?))
}

/// Restores a soft-deleted experiment (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/experiments/{experiment_id}/restore",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("experiment_id" = String, Path)),
    responses(
        (status = 200, body = Experiment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
)]
#[post("/{experiment_id}/restore")]
pub async fn restore_experiment(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, experiment_id) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let experiment = backends
        .tracking
        .clone()
        .restore_experiment(pb::ExperimentRef {
            project,
            experiment_id,
        })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Experiment::try_from(experiment)?))
}

/// Starts a run in an experiment (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path)),
    request_body = CreateRun,
    responses(
        (status = 201, body = Run), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such experiment"),
        (status = 412, body = ErrorBody, description = "The experiment is deleted"),
    ),
)]
#[post("")]
pub async fn create_run(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    body: web::Json<CreateRun>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::CreateRunRequest {
        project: project.into_inner(),
        experiment_id: body.experiment_id,
        name: body.name,
        user_id: body.user_id.unwrap_or_else(|| claims.sub.clone()),
        start_time_ms: body.start_time_ms.unwrap_or(0),
        tags: body.tags,
    };
    let run = backends.tracking.clone().create_run(request).await?.into_inner();
    Ok(HttpResponse::Created().json(Run::try_from(run)?))
}

/// One run with its params, tags and latest metrics.
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs/{run_id}",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("run_id" = String, Path)),
    responses((status = 200, body = Run), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{run_id}")]
pub async fn get_run(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, run_id) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let run = backends
        .tracking
        .clone()
        .get_run(pb::RunRef { project, run_id })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Run::try_from(run)?))
}

/// Sets a run's status, end time or name (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs/{run_id}",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("run_id" = String, Path)),
    request_body = UpdateRun,
    responses(
        (status = 200, body = Run), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[patch("/{run_id}")]
pub async fn update_run(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateRun>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, run_id) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::UpdateRunRequest {
        project,
        run_id,
        status: pb::RunStatus::from(body.status) as i32,
        end_time_ms: body.end_time_ms.unwrap_or(0),
        name: body.name,
    };
    let run = backends.tracking.clone().update_run(request).await?.into_inner();
    Ok(HttpResponse::Ok().json(Run::try_from(run)?))
}

/// Deletes a run with its history and artifacts (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs/{run_id}",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("run_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[delete("/{run_id}")]
pub async fn delete_run(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, run_id) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    backends
        .tracking
        .clone()
        .delete_run(pb::RunRef { project, run_id })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Logs metrics, params and tags of a run in one atomic batch (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs/{run_id}/log-batch",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("run_id" = String, Path)),
    request_body = LogBatch,
    responses(
        (status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "A param would change value, or the run is not active"),
        (status = 413, body = ErrorBody),
    ),
)]
#[post("/{run_id}/log-batch")]
pub async fn log_batch(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<LogBatch>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, run_id) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let now_ms = Utc::now().timestamp_millis();
    let key_value = |kv: KeyValue| pb::Param {
        key: kv.key,
        value: kv.value,
    };
    let request = pb::LogBatchRequest {
        project,
        run_id,
        metrics: body
            .metrics
            .into_iter()
            .map(|m| pb::Metric {
                key: m.key,
                value: m.value,
                timestamp_ms: m.timestamp_ms.unwrap_or(now_ms),
                step: m.step.unwrap_or(0),
            })
            .collect(),
        params: body.params.into_iter().map(key_value).collect(),
        tags: body.tags.into_iter().map(key_value).collect(),
    };
    backends.tracking.clone().log_batch(request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every logged value of one metric of a run.
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs/{run_id}/metrics/{key}/history",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path), ("run_id" = String, Path), ("key" = String, Path, description = "Metric key"), ListQuery),
    responses((status = 200, body = MetricHistory), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{run_id}/metrics/{key}/history")]
pub async fn get_metric_history(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, String)>,
    query: web::Query<ListQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, run_id, key) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let query = query.into_inner();
    let request = pb::GetMetricHistoryRequest {
        project,
        run_id,
        key,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let response = backends
        .tracking
        .clone()
        .get_metric_history(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(MetricHistory {
        metrics: response.metrics.into_iter().map(Metric::from).collect(),
        next_page_token: response.next_page_token,
    }))
}

/// Runs matching a filter, in the requested order.
#[utoipa::path(
    path = "/api/v1/projects/{project}/runs/search",
    tag = "tracking",
    security(("bearer" = [])),
    params(("project" = String, Path)),
    request_body = SearchRuns,
    responses(
        (status = 200, body = RunList),
        (status = 400, body = ErrorBody, description = "Malformed filter or order; the message names the offending token"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
)]
#[post("/search")]
pub async fn search_runs(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    body: web::Json<SearchRuns>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::SearchRunsRequest {
        project: project.into_inner(),
        experiment_ids: body.experiment_ids,
        filter: body.filter,
        view: pb::ViewType::from(body.view) as i32,
        order_by: body.order_by,
        page_size: body.page_size.unwrap_or(0),
        page_token: body.page_token.unwrap_or_default(),
    };
    let response = backends.tracking.clone().search_runs(request).await?.into_inner();
    let runs = response
        .runs
        .into_iter()
        .map(Run::try_from)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(RunList {
        runs,
        next_page_token: response.next_page_token,
    }))
}
