//! MLflow's run calls (`/api/2.0/mlflow/runs/...`, `metrics/get-history`) on the registry's
//! runs. Every write of metrics, params or tags is one `LogBatch`, checked first against
//! MLflow's limits so that a client sees MLflow's answer to an oversized batch.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};

use super::entities::{Metric, Run, RunInfo, parse_status, run_info};
use super::error::MlflowError;
use super::experiments::{tag_map, view_type};
use super::request::{
    KeyValue, Mlflow, QueryFields, answer, empty, json_body, lenient_f64, lenient_i64, required,
};
use crate::api::Services;
use crate::auth::{Editor, Viewer};

type Reply = Result<HttpResponse, MlflowError>;

/// MLflow's limits on one `log-batch` (`mlflow/utils/validation.py`).
const MAX_METRICS_PER_BATCH: usize = 1000;
const MAX_PARAMS_PER_BATCH: usize = 100;
const MAX_TAGS_PER_BATCH: usize = 100;
const MAX_KEY_CHARS: usize = 250;
const MAX_PARAM_VALUE_CHARS: usize = 6000;
const MAX_TAG_VALUE_CHARS: usize = 8000;

/// The tag in which MLflow keeps a run's name.
const RUN_NAME_TAG: &str = "mlflow.runName";

/// The registry's largest page of a search or a metric history.
const REGISTRY_PAGE: i64 = 1000;
/// MLflow's default and largest page of `runs/search`.
const DEFAULT_SEARCH_RESULTS: i64 = 1000;
const MAX_SEARCH_RESULTS: i64 = 50_000;

#[derive(Serialize)]
struct RunAnswer {
    run: Run,
}

#[derive(Deserialize)]
struct CreateRun {
    experiment_id: Option<String>,
    user_id: Option<String>,
    run_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: CreateRun = json_body(&req, &body)?;
    check_tags(&body.tags)?;
    let mut tags = tag_map(body.tags);
    // The name is the request's, else the client's mlflow.runName tag; the tag follows it.
    let name = body
        .run_name
        .filter(|name| !name.is_empty())
        .or_else(|| tags.get(RUN_NAME_TAG).cloned())
        .unwrap_or_default();
    if !name.is_empty() {
        tags.insert(RUN_NAME_TAG.to_owned(), name.clone());
    }
    let request = pb::CreateRunRequest {
        experiment_id: required(body.experiment_id, "experiment_id")?,
        name,
        user_id: body
            .user_id
            .filter(|user| !user.is_empty())
            .unwrap_or_else(|| access.subject().to_owned()),
        start_time_ms: body.start_time.unwrap_or(0),
        tags,
        project: access.project,
    };
    let run = backends.tracking().create_run(request).await?.into_inner();
    answer(&RunAnswer { run: run.into() })
}

pub async fn get(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let request = pb::RunRef {
        project: access.project,
        run_id: query.run_id()?.to_owned(),
    };
    let run = backends.tracking().get_run(request).await?.into_inner();
    answer(&RunAnswer { run: run.into() })
}

/// The run named by a body's `run_id`, or by the legacy `run_uuid`.
fn run_id_of(run_id: Option<String>, run_uuid: Option<String>) -> Result<String, MlflowError> {
    required(run_id.filter(|id| !id.is_empty()).or(run_uuid), "run_id")
}

#[derive(Deserialize)]
struct UpdateRun {
    run_id: Option<String>,
    run_uuid: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    end_time: Option<i64>,
    run_name: Option<String>,
}

#[derive(Serialize)]
struct RunInfoAnswer {
    run_info: RunInfo,
}

pub async fn update(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: UpdateRun = json_body(&req, &body)?;
    let run_id = run_id_of(body.run_id, body.run_uuid)?;
    let status = match body.status.as_deref() {
        None | Some("") => None,
        Some(name) => Some(parse_status(name).ok_or_else(|| {
            MlflowError::invalid(format!(
                "Invalid run status '{name}': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            ))
        })?),
    };
    let status = match status {
        Some(status) => i32::from(status),
        // A rename alone keeps the status the run has.
        None => {
            let current = pb::RunRef {
                project: access.project.clone(),
                run_id: run_id.clone(),
            };
            backends.tracking().get_run(current).await?.into_inner().status
        }
    };
    let name = body.run_name.filter(|name| !name.is_empty());
    let request = pb::UpdateRunRequest {
        project: access.project.clone(),
        run_id: run_id.clone(),
        status,
        end_time_ms: body.end_time.unwrap_or(0),
        name: name.clone(),
    };
    let run = backends.tracking().update_run(request).await?.into_inner();
    if let Some(name) = name {
        log(
            &backends,
            &access.project,
            &run_id,
            Vec::new(),
            Vec::new(),
            vec![pb::Param {
                key: RUN_NAME_TAG.to_owned(),
                value: name,
            }],
        )
        .await?;
    }
    answer(&RunInfoAnswer {
        run_info: run_info(&run),
    })
}

async fn log(
    backends: &Services,
    project: &str,
    run_id: &str,
    metrics: Vec<pb::Metric>,
    params: Vec<pb::Param>,
    tags: Vec<pb::Param>,
) -> Result<(), MlflowError> {
    let request = pb::LogBatchRequest {
        project: project.to_owned(),
        run_id: run_id.to_owned(),
        metrics,
        params,
        tags,
        delete_tags: Vec::new(),
    };
    backends.tracking().log_batch(request).await?;
    Ok(())
}

#[derive(Deserialize)]
struct LogMetric {
    run_id: Option<String>,
    run_uuid: Option<String>,
    key: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: Option<i64>,
}

#[derive(Deserialize)]
struct BatchMetric {
    #[serde(default)]
    key: String,
    #[serde(default, deserialize_with = "lenient_f64")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: Option<i64>,
}

fn metric(
    key: String,
    value: Option<f64>,
    timestamp: Option<i64>,
    step: Option<i64>,
    now_ms: i64,
) -> Result<pb::Metric, MlflowError> {
    check_key(&key)?;
    Ok(pb::Metric {
        value: value.ok_or_else(|| MlflowError::missing("value"))?,
        timestamp_ms: timestamp.unwrap_or(now_ms),
        step: step.unwrap_or(0),
        key,
    })
}

fn check_key(key: &str) -> Result<(), MlflowError> {
    if key.is_empty() {
        return Err(MlflowError::missing("key"));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(MlflowError::invalid(format!(
            "Key '{}…' had length {}, which exceeded length limit of {MAX_KEY_CHARS}",
            key.chars().take(32).collect::<String>(),
            key.chars().count()
        )));
    }
    Ok(())
}

fn check_value(key: &str, value: &str, limit: usize, what: &str) -> Result<(), MlflowError> {
    let length = value.chars().count();
    if length > limit {
        return Err(MlflowError::invalid(format!(
            "{what} '{key}' had value length {length}, which exceeded length limit of {limit}"
        )));
    }
    Ok(())
}

fn check_params(params: &[KeyValue]) -> Result<(), MlflowError> {
    params.iter().try_for_each(|param| {
        check_key(&param.key)?;
        check_value(&param.key, &param.value, MAX_PARAM_VALUE_CHARS, "Param")
    })
}

fn check_tags(tags: &[KeyValue]) -> Result<(), MlflowError> {
    tags.iter().try_for_each(|tag| {
        check_key(&tag.key)?;
        check_value(&tag.key, &tag.value, MAX_TAG_VALUE_CHARS, "Tag")
    })
}

fn params_of(entries: Vec<KeyValue>) -> Vec<pb::Param> {
    entries
        .into_iter()
        .map(|entry| pb::Param {
            key: entry.key,
            value: entry.value,
        })
        .collect()
}

pub async fn log_metric(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: LogMetric = json_body(&req, &body)?;
    let run_id = run_id_of(body.run_id, body.run_uuid)?;
    let now_ms = Utc::now().timestamp_millis();
    let metric = metric(
        required(body.key, "key")?,
        body.value,
        body.timestamp,
        body.step,
        now_ms,
    )?;
    log(
        &backends,
        &access.project,
        &run_id,
        vec![metric],
        Vec::new(),
        Vec::new(),
    )
    .await?;
    empty()
}

#[derive(Deserialize)]
struct SetKeyValue {
    run_id: Option<String>,
    run_uuid: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

pub async fn log_param(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: SetKeyValue = json_body(&req, &body)?;
    let run_id = run_id_of(body.run_id, body.run_uuid)?;
    let param = KeyValue {
        key: required(body.key, "key")?,
        value: body.value.ok_or_else(|| MlflowError::missing("value"))?,
    };
    check_params(std::slice::from_ref(&param))?;
    log(
        &backends,
        &access.project,
        &run_id,
        Vec::new(),
        params_of(vec![param]),
        Vec::new(),
    )
    .await?;
    empty()
}

pub async fn set_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: SetKeyValue = json_body(&req, &body)?;
    let run_id = run_id_of(body.run_id, body.run_uuid)?;
    let tag = KeyValue {
        key: required(body.key, "key")?,
        value: body.value.unwrap_or_default(),
    };
    check_tags(std::slice::from_ref(&tag))?;
    log(
        &backends,
        &access.project,
        &run_id,
        Vec::new(),
        Vec::new(),
        params_of(vec![tag]),
    )
    .await?;
    empty()
}

#[derive(Deserialize)]
struct LogBatch {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(default)]
    metrics: Vec<BatchMetric>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn log_batch(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: LogBatch = json_body(&req, &body)?;
    let run_id = run_id_of(body.run_id, body.run_uuid)?;
    for (what, count, limit) in [
        ("metrics", body.metrics.len(), MAX_METRICS_PER_BATCH),
        ("params", body.params.len(), MAX_PARAMS_PER_BATCH),
        ("tags", body.tags.len(), MAX_TAGS_PER_BATCH),
    ] {
        if count > limit {
            return Err(MlflowError::invalid(format!(
                "A batch logging request can contain at most {limit} {what}. Got {count} {what}. \
                 Please split up {what} across multiple requests and try again."
            )));
        }
    }
    check_params(&body.params)?;
    check_tags(&body.tags)?;
    let now_ms = Utc::now().timestamp_millis();
    let metrics = body
        .metrics
        .into_iter()
        .map(|m| metric(m.key, m.value, m.timestamp, m.step, now_ms))
        .collect::<Result<Vec<_>, _>>()?;
    log(
        &backends,
        &access.project,
        &run_id,
        metrics,
        params_of(body.params),
        params_of(body.tags),
    )
    .await?;
    empty()
}

#[derive(Deserialize)]
struct RunFields {
    run_id: Option<String>,
    run_uuid: Option<String>,
    key: Option<String>,
}

/// MLflow's run delete: soft, the run stays readable with `lifecycle_stage: deleted`.
pub async fn delete(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: RunFields = json_body(&req, &body)?;
    let request = pb::RunRef {
        project: access.project,
        run_id: run_id_of(body.run_id, body.run_uuid)?,
    };
    backends.tracking().archive_run(request).await?;
    empty()
}

pub async fn restore(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: RunFields = json_body(&req, &body)?;
    let request = pb::RunRef {
        project: access.project,
        run_id: run_id_of(body.run_id, body.run_uuid)?,
    };
    backends.tracking().restore_run(request).await?;
    empty()
}

/// Removes one tag; a tag the run does not have is RESOURCE_DOES_NOT_EXIST, as in MLflow.
pub async fn delete_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: RunFields = json_body(&req, &body)?;
    let request = pb::LogBatchRequest {
        project: access.project,
        run_id: run_id_of(body.run_id, body.run_uuid)?,
        delete_tags: vec![required(body.key, "key")?],
        ..Default::default()
    };
    backends.tracking().log_batch(request).await?;
    empty()
}

#[derive(Deserialize)]
struct SearchRuns {
    #[serde(default)]
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<String>,
    #[serde(default)]
    page_token: Option<String>,
}

#[derive(Serialize)]
struct SearchAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runs: Vec<Run>,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_page_token: String,
}

/// MLflow's filter language for runs is the registry's (`metrics.`, `params.`, `tags.`,
/// `attributes.` with `=`, `!=`, `<`… `LIKE`, `ILIKE`, `IN`, `NOT IN`, joined by AND), so a
/// filter passes through; the registry refuses what it cannot evaluate with a message naming
/// the token, answered as INVALID_PARAMETER_VALUE. A page larger than the registry's (1000)
/// comes back in pages of 1000 with a `next_page_token`, which the client follows.
pub async fn search(access: Mlflow<Viewer>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: SearchRuns = json_body(&req, &body)?;
    let max_results = body.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&max_results) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and {MAX_SEARCH_RESULTS}"
        )));
    }
    let request = pb::SearchRunsRequest {
        project: access.project,
        experiment_ids: body.experiment_ids,
        filter: body.filter.unwrap_or_default(),
        view: view_type(body.run_view_type.as_deref())?.into(),
        order_by: body.order_by,
        page_size: u32::try_from(max_results.min(REGISTRY_PAGE)).unwrap_or(1000),
        page_token: body.page_token.unwrap_or_default(),
    };
    let page = backends.tracking().search_runs(request).await?.into_inner();
    answer(&SearchAnswer {
        runs: page.runs.into_iter().map(Run::from).collect(),
        next_page_token: page.next_page_token,
    })
}

#[derive(Serialize)]
struct HistoryAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_page_token: String,
}

/// Every logged value of one metric, in pages of at most the registry's 1000 (the client
/// follows `next_page_token`).
pub async fn metric_history(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let page_size = query
        .int("max_results")?
        .unwrap_or(REGISTRY_PAGE)
        .clamp(1, REGISTRY_PAGE);
    let request = pb::GetMetricHistoryRequest {
        project: access.project,
        run_id: query.run_id()?.to_owned(),
        key: query.require("metric_key")?.to_owned(),
        page_size: u32::try_from(page_size).unwrap_or(1000),
        page_token: query.get("page_token").unwrap_or("").to_owned(),
    };
    let page = backends
        .tracking()
        .get_metric_history(request)
        .await?
        .into_inner();
    answer(&HistoryAnswer {
        metrics: page.metrics.into_iter().map(Metric::from).collect(),
        next_page_token: page.next_page_token,
    })
}
