//! Experiment tracking, stored by the registry-service: experiments, runs, batches of metrics,
//! params and tags, metric history and run search. Reads need `viewer`, writes `editor`, both
//! the project in the token.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::Utc;
use lathe_contract::registry::v1 as pb;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::params::{ExperimentPath, ListQuery, MetricPath, ProjectPath, RunPath};
use super::requests::{Change, Listing, Target};
use super::{Reply, Services, created, ok};
use crate::auth::{Editor, ProjectAccess, Viewer};
use crate::error::ErrorBody;

// The REST bodies below differ from their requests: optional fields where the proto uses 0
// or "" for "not given" (a run's user, times, page size), and `name` for `new_name`.

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
    pub view: Option<pb::ViewType>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
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
    pub status: pb::RunStatus,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogBatch {
    #[serde(default)]
    pub metrics: Vec<LogMetric>,
    /// A param, once logged, cannot change value.
    #[serde(default)]
    pub params: Vec<pb::Param>,
    #[serde(default)]
    pub tags: Vec<pb::Param>,
    /// Tag keys to remove (after `tags` are set); each must exist, else nothing is applied.
    #[serde(default)]
    pub delete_tags: Vec<String>,
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
    pub view: pb::ViewType,
    /// e.g. `metrics.accuracy DESC`; default `attributes.start_time DESC`.
    #[serde(default)]
    pub order_by: Vec<String>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Creates an experiment (editor).
#[utoipa::path(
    tag = "tracking",
    params(ProjectPath),
    request_body = pb::CreateExperimentRequest,
    responses(
        (status = 201, body = pb::Experiment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such project"),
        (status = 409, body = ErrorBody),
    ),
)]
#[post("")]
pub async fn create_experiment(
    change: Change<ProjectPath, pb::CreateExperimentRequest>,
    backends: Services,
) -> Reply {
    created(backends.tracking().create_experiment(change.request).await?)
}

/// Experiments of a project.
#[utoipa::path(
    tag = "tracking",
    params(ProjectPath, ListExperimentsQuery),
    responses((status = 200, body = pb::ListExperimentsResponse), (status = 400, body = ErrorBody)),
)]
#[get("")]
pub async fn list_experiments(
    access: ProjectAccess<Viewer>,
    query: web::Query<ListExperimentsQuery>,
    backends: Services,
) -> Reply {
    let query = query.into_inner();
    let request = pb::ListExperimentsRequest {
        project: access.project,
        view: query.view.unwrap_or_default().into(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    ok(backends.tracking().list_experiments(request).await?)
}

/// One experiment, active or deleted.
#[utoipa::path(
    tag = "tracking",
    params(ExperimentPath),
    responses((status = 200, body = pb::Experiment), (status = 404, body = ErrorBody)),
)]
#[get("/{experiment_id}")]
pub async fn get_experiment(
    target: Target<Viewer, ExperimentPath, pb::GetExperimentRequest>,
    backends: Services,
) -> Reply {
    ok(backends.tracking().get_experiment(target.request).await?)
}

/// Renames an experiment or changes its tags (editor).
#[utoipa::path(
    tag = "tracking",
    params(ExperimentPath),
    responses(
        (status = 200, body = pb::Experiment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
)]
#[patch("/{experiment_id}")]
pub async fn update_experiment(
    _access: ProjectAccess<Editor>,
    path: web::Path<ExperimentPath>,
    body: web::Json<UpdateExperiment>,
    backends: Services,
) -> Reply {
    let (project, experiment_id) = path.into_inner().parts();
    let body = body.into_inner();
    let request = pb::UpdateExperimentRequest {
        project,
        experiment_id,
        new_name: body.name,
        set_tags: body.set_tags,
        delete_tags: body.delete_tags,
    };
    ok(backends.tracking().update_experiment(request).await?)
}

/// Soft-deletes an experiment (editor); it and its runs stay readable and can be restored.
#[utoipa::path(
    tag = "tracking",
    params(ExperimentPath),
    responses((status = 200, body = pb::Experiment), (status = 404, body = ErrorBody)),
)]
#[delete("/{experiment_id}")]
pub async fn delete_experiment(
    target: Target<Editor, ExperimentPath, pb::ExperimentRef>,
    backends: Services,
) -> Reply {
    ok(backends.tracking().delete_experiment(target.request).await?)
}

/// Restores a soft-deleted experiment (editor).
#[utoipa::path(
    tag = "tracking",
    params(ExperimentPath),
    responses(
        (status = 200, body = pb::Experiment),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
)]
#[post("/{experiment_id}/restore")]
pub async fn restore_experiment(
    target: Target<Editor, ExperimentPath, pb::ExperimentRef>,
    backends: Services,
) -> Reply {
    ok(backends.tracking().restore_experiment(target.request).await?)
}

/// Starts a run in an experiment (editor).
#[utoipa::path(
    tag = "tracking",
    params(ProjectPath),
    responses(
        (status = 201, body = pb::Run), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such experiment"),
        (status = 412, body = ErrorBody, description = "The experiment is deleted"),
    ),
)]
#[post("")]
pub async fn create_run(
    access: ProjectAccess<Editor>,
    body: web::Json<CreateRun>,
    backends: Services,
) -> Reply {
    let body = body.into_inner();
    let request = pb::CreateRunRequest {
        project: access.project,
        experiment_id: body.experiment_id,
        name: body.name,
        user_id: body.user_id.unwrap_or_else(|| access.claims.sub.clone()),
        start_time_ms: body.start_time_ms.unwrap_or(0),
        tags: body.tags,
    };
    created(backends.tracking().create_run(request).await?)
}

/// One run with its params, tags and latest metrics.
#[utoipa::path(
    tag = "tracking",
    params(RunPath),
    responses((status = 200, body = pb::Run), (status = 404, body = ErrorBody)),
)]
#[get("/{run_id}")]
pub async fn get_run(target: Target<Viewer, RunPath, pb::RunRef>, backends: Services) -> Reply {
    ok(backends.tracking().get_run(target.request).await?)
}

/// Sets a run's status, end time or name (editor).
#[utoipa::path(
    tag = "tracking",
    params(RunPath),
    responses(
        (status = 200, body = pb::Run), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[patch("/{run_id}")]
pub async fn update_run(
    _access: ProjectAccess<Editor>,
    path: web::Path<RunPath>,
    body: web::Json<UpdateRun>,
    backends: Services,
) -> Reply {
    let RunPath { project, run_id } = path.into_inner();
    let body = body.into_inner();
    let request = pb::UpdateRunRequest {
        project,
        run_id,
        status: body.status.into(),
        end_time_ms: body.end_time_ms.unwrap_or(0),
        name: body.name,
    };
    ok(backends.tracking().update_run(request).await?)
}

/// Deletes a run with its history and artifacts (editor).
#[utoipa::path(
    tag = "tracking",
    params(RunPath),
    responses((status = 204), (status = 404, body = ErrorBody)),
)]
#[delete("/{run_id}")]
pub async fn delete_run(target: Target<Editor, RunPath, pb::RunRef>, backends: Services) -> Reply {
    backends.tracking().delete_run(target.request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Logs metrics, params and tags of a run, and deletes tags, in one atomic batch (editor).
#[utoipa::path(
    tag = "tracking",
    params(RunPath),
    responses(
        (status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "A param would change value, or the run is not active"),
        (status = 413, body = ErrorBody),
    ),
)]
#[post("/{run_id}/log-batch")]
pub async fn log_batch(
    _access: ProjectAccess<Editor>,
    path: web::Path<RunPath>,
    body: web::Json<LogBatch>,
    backends: Services,
) -> Reply {
    let RunPath { project, run_id } = path.into_inner();
    let body = body.into_inner();
    let now_ms = Utc::now().timestamp_millis();
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
        params: body.params,
        tags: body.tags,
        delete_tags: body.delete_tags,
    };
    backends.tracking().log_batch(request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every logged value of one metric of a run.
#[utoipa::path(
    tag = "tracking",
    params(MetricPath, ListQuery),
    responses((status = 200, body = pb::GetMetricHistoryResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{run_id}/metrics/{key}/history")]
pub async fn get_metric_history(
    listing: Listing<MetricPath, pb::GetMetricHistoryRequest>,
    backends: Services,
) -> Reply {
    ok(backends.tracking().get_metric_history(listing.request).await?)
}

/// Runs matching a filter, in the requested order.
#[utoipa::path(
    tag = "tracking",
    params(ProjectPath),
    responses(
        (status = 200, body = pb::SearchRunsResponse),
        (status = 400, body = ErrorBody, description = "Malformed filter or order; the message names the offending token"),
    ),
)]
#[post("/search")]
pub async fn search_runs(
    access: ProjectAccess<Viewer>,
    body: web::Json<SearchRuns>,
    backends: Services,
) -> Reply {
    let body = body.into_inner();
    let request = pb::SearchRunsRequest {
        project: access.project,
        experiment_ids: body.experiment_ids,
        filter: body.filter,
        view: body.view.into(),
        order_by: body.order_by,
        page_size: body.page_size.unwrap_or(0),
        page_token: body.page_token.unwrap_or_default(),
    };
    ok(backends.tracking().search_runs(request).await?)
}
