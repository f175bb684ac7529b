//! MLflow 3's logged models (`/api/2.0/mlflow/logged-models...`) and `runs/outputs`, on the
//! registry's `LoggedModelService`. `mlflow.<flavor>.log_model` creates a logged model, uploads
//! its files through the artifact proxy to `mlflow-artifacts:/<exp>/models/<id>/artifacts`,
//! finalizes it and records it as the run's output; `register_model("models:/m-…")` versions it.

use actix_web::{HttpRequest, HttpResponse, web};
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};

use super::entities::key_values;
use super::error::MlflowError;
use super::experiments::tag_map;
use super::request::{KeyValue, Mlflow, answer, empty, json_body, lenient_i64, required};
use crate::api::Services;
use crate::auth::{Editor, Viewer};

type Reply = Result<HttpResponse, MlflowError>;

/// Default and largest `max_results` of a search, as MLflow's.
const DEFAULT_SEARCH_RESULTS: i64 = 100;
const MAX_SEARCH_RESULTS: i64 = 1000;

/// Where MLflow's client finds a logged model's files: the gateway's artifact proxy.
pub fn logged_model_artifact_uri(experiment_id: &str, model_id: &str) -> String {
    format!("mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts")
}

fn status_name(status: i32) -> &'static str {
    match pb::LoggedModelStatus::try_from(status) {
        Ok(pb::LoggedModelStatus::Pending) => "LOGGED_MODEL_PENDING",
        Ok(pb::LoggedModelStatus::Ready) => "LOGGED_MODEL_READY",
        Ok(pb::LoggedModelStatus::Failed) => "LOGGED_MODEL_UPLOAD_FAILED",
        Ok(pb::LoggedModelStatus::Unspecified) | Err(_) => "LOGGED_MODEL_STATUS_UNSPECIFIED",
    }
}

/// MLflow's status name (a JSON string, or its enum number) as the registry's.
fn parse_status(status: &serde_json::Value) -> Result<pb::LoggedModelStatus, MlflowError> {
    let status = match status {
        serde_json::Value::String(name) => name.as_str(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(1) => "LOGGED_MODEL_PENDING",
            Some(2) => "LOGGED_MODEL_READY",
            Some(3) => "LOGGED_MODEL_UPLOAD_FAILED",
            _ => "",
        },
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Array(_)
        | serde_json::Value::Object(_) => "",
    };
    match status {
        "LOGGED_MODEL_READY" | "READY" => Ok(pb::LoggedModelStatus::Ready),
        "LOGGED_MODEL_UPLOAD_FAILED" | "FAILED" => Ok(pb::LoggedModelStatus::Failed),
        "LOGGED_MODEL_PENDING" | "PENDING" => Ok(pb::LoggedModelStatus::Pending),
        other => Err(MlflowError::invalid(format!(
            "Invalid logged model status '{other}': use LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED"
        ))),
    }
}

#[derive(Serialize)]
struct LoggedModelInfo {
    model_id: String,
    experiment_id: String,
    name: String,
    artifact_uri: String,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    status_message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    source_run_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    model_type: String,
    creation_timestamp_ms: i64,
    last_updated_timestamp_ms: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<KeyValue>,
}

#[derive(Serialize)]
struct LoggedModelData {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    params: Vec<KeyValue>,
}

/// MLflow's `LoggedModel`: `{"info": …, "data": {"params": …}}`. Metrics logged against a
/// model are not kept, so `data.metrics` is always absent.
#[derive(Serialize)]
pub struct LoggedModel {
    info: LoggedModelInfo,
    data: LoggedModelData,
}

impl From<pb::LoggedModel> for LoggedModel {
    fn from(m: pb::LoggedModel) -> LoggedModel {
        LoggedModel {
            info: LoggedModelInfo {
                artifact_uri: logged_model_artifact_uri(&m.experiment_id, &m.model_id),
                status: status_name(m.status),
                status_message: m.status_message,
                source_run_id: m.source_run_id,
                model_type: m.model_type,
                creation_timestamp_ms: m.create_time_ms,
                last_updated_timestamp_ms: m.update_time_ms,
                tags: key_values(m.tags),
                model_id: m.model_id,
                experiment_id: m.experiment_id,
                name: m.name,
            },
            data: LoggedModelData {
                params: key_values(m.params),
            },
        }
    }
}

#[derive(Serialize)]
struct ModelAnswer {
    model: LoggedModel,
}

fn model_answer(model: pb::LoggedModel) -> Reply {
    answer(&ModelAnswer { model: model.into() })
}

#[derive(Deserialize)]
struct CreateLoggedModel {
    experiment_id: Option<String>,
    name: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

/// `POST /logged-models`: a pending logged model in the experiment.
pub async fn create(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: CreateLoggedModel = json_body(&req, &body)?;
    let request = pb::CreateLoggedModelRequest {
        project: access.project,
        experiment_id: required(body.experiment_id, "experiment_id")?,
        name: body.name.unwrap_or_default(),
        source_run_id: body.source_run_id.unwrap_or_default(),
        model_type: body.model_type.unwrap_or_default(),
        params: tag_map(body.params),
        tags: tag_map(body.tags),
    };
    model_answer(
        backends
            .logged_models()
            .create_logged_model(request)
            .await?
            .into_inner(),
    )
}

fn model_id(req: &HttpRequest) -> String {
    req.match_info().get("model_id").unwrap_or("").to_owned()
}

/// `GET /logged-models/{model_id}`.
pub async fn get(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let request = pb::LoggedModelRef {
        project: access.project,
        model_id: model_id(&req),
    };
    model_answer(
        backends
            .logged_models()
            .get_logged_model(request)
            .await?
            .into_inner(),
    )
}

#[derive(Deserialize)]
struct Finalize {
    status: Option<serde_json::Value>,
}

/// `PATCH /logged-models/{model_id}`: finalize (ready or failed).
pub async fn finalize(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: Finalize = json_body(&req, &body)?;
    let status = parse_status(&body.status.ok_or_else(|| MlflowError::missing("status"))?)?;
    let request = pb::FinalizeLoggedModelRequest {
        project: access.project,
        model_id: model_id(&req),
        status: status.into(),
        status_message: String::new(),
    };
    model_answer(
        backends
            .logged_models()
            .finalize_logged_model(request)
            .await?
            .into_inner(),
    )
}

/// `DELETE /logged-models/{model_id}`.
pub async fn delete(access: Mlflow<Editor>, req: HttpRequest, backends: Services) -> Reply {
    let request = pb::LoggedModelRef {
        project: access.project,
        model_id: model_id(&req),
    };
    backends.logged_models().delete_logged_model(request).await?;
    empty()
}

#[derive(Deserialize)]
struct SetTags {
    #[serde(default)]
    tags: Vec<KeyValue>,
}

/// `PATCH /logged-models/{model_id}/tags`: merged into the model's tags.
pub async fn set_tags(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: SetTags = json_body(&req, &body)?;
    let request = pb::SetLoggedModelTagsRequest {
        project: access.project,
        model_id: model_id(&req),
        tags: tag_map(body.tags),
    };
    backends.logged_models().set_logged_model_tags(request).await?;
    empty()
}

/// `DELETE /logged-models/{model_id}/tags/{key}`.
pub async fn delete_tag(access: Mlflow<Editor>, req: HttpRequest, backends: Services) -> Reply {
    let request = pb::DeleteLoggedModelTagRequest {
        project: access.project,
        model_id: model_id(&req),
        key: req.match_info().get("key").unwrap_or("").to_owned(),
    };
    backends.logged_models().delete_logged_model_tag(request).await?;
    empty()
}

#[derive(Deserialize)]
struct OrderBy {
    field_name: Option<String>,
    ascending: Option<bool>,
    dataset_name: Option<String>,
}

#[derive(Deserialize)]
struct SearchLoggedModels {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<OrderBy>,
    page_token: Option<String>,
    #[serde(default)]
    datasets: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct SearchAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    models: Vec<LoggedModel>,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_page_token: String,
}

/// `POST /logged-models/search`. The client asks it on every `download_artifacts` below a
/// run's root (is the path a logged model's name?). Dataset-scoped metric filters are refused:
/// metrics are not kept per logged model.
pub async fn search(access: Mlflow<Viewer>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: SearchLoggedModels = json_body(&req, &body)?;
    let max_results = body.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&max_results) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and {MAX_SEARCH_RESULTS}"
        )));
    }
    if !body.datasets.is_empty() || body.order_by.iter().any(|o| o.dataset_name.is_some()) {
        return Err(MlflowError::invalid(
            "Searching logged models by dataset is not supported: metrics are not kept per logged model",
        ));
    }
    let order_by = body
        .order_by
        .into_iter()
        .map(|order| {
            let field = required(order.field_name, "order_by.field_name")?;
            let direction = if order.ascending.unwrap_or(true) {
                "ASC"
            } else {
                "DESC"
            };
            Ok(format!("{field} {direction}"))
        })
        .collect::<Result<Vec<_>, MlflowError>>()?;
    let request = pb::SearchLoggedModelsRequest {
        project: access.project,
        experiment_ids: body.experiment_ids,
        filter: body.filter.unwrap_or_default(),
        order_by,
        page_size: u32::try_from(max_results).unwrap_or(1000),
        page_token: body.page_token.unwrap_or_default(),
    };
    let page = backends
        .logged_models()
        .search_logged_models(request)
        .await?
        .into_inner();
    answer(&SearchAnswer {
        models: page.models.into_iter().map(LoggedModel::from).collect(),
        next_page_token: page.next_page_token,
    })
}

#[derive(Deserialize)]
struct ModelOutput {
    model_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: Option<i64>,
}

#[derive(Deserialize)]
struct LogOutputs {
    run_id: Option<String>,
    #[serde(default)]
    models: Vec<ModelOutput>,
}

/// `POST /runs/outputs`: the logged models a run produced, answered in the run's
/// `outputs.model_outputs`.
pub async fn log_outputs(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: LogOutputs = json_body(&req, &body)?;
    let models = body
        .models
        .into_iter()
        .map(|output| {
            Ok(pb::RunModelOutput {
                model_id: required(output.model_id, "models.model_id")?,
                step: output.step.unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, MlflowError>>()?;
    let request = pb::LogRunOutputsRequest {
        project: access.project,
        run_id: required(body.run_id, "run_id")?,
        models,
    };
    backends.logged_models().log_run_outputs(request).await?;
    empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_mlflows_names() {
        assert_eq!(
            parse_status(&serde_json::json!("LOGGED_MODEL_READY")).unwrap(),
            pb::LoggedModelStatus::Ready
        );
        assert_eq!(
            parse_status(&serde_json::json!(3)).unwrap(),
            pb::LoggedModelStatus::Failed
        );
        assert!(parse_status(&serde_json::json!("DONE")).is_err());
        assert_eq!(
            status_name(pb::LoggedModelStatus::Pending as i32),
            "LOGGED_MODEL_PENDING"
        );
    }
}
