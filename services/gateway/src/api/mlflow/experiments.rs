//! MLflow's experiment calls (`/api/2.0/mlflow/experiments/...`) on the registry's experiments.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};

use super::entities::Experiment;
use super::error::MlflowError;
use super::experiment_search::{ExperimentFilter, ExperimentOrder, offset_of, page_token, sort};
use super::request::{KeyValue, Mlflow, QueryFields, answer, empty, json_body, lenient_i64, required};
use crate::api::Services;
use crate::auth::{Editor, Viewer};

type Reply = Result<HttpResponse, MlflowError>;

/// MLflow's default and largest page of `experiments/search`.
const DEFAULT_MAX_RESULTS: i64 = 1000;
const MAX_RESULTS: i64 = 50_000;

/// The registry's largest page of `ListExperiments`.
const LIST_PAGE: u32 = 1000;

#[derive(Deserialize)]
struct CreateExperiment {
    name: Option<String>,
    // `artifact_location` is ignored: every experiment's artifacts live in the registry's
    // store, reached through the artifact proxy at `mlflow-artifacts:/<experiment_id>`.
    #[serde(default)]
    tags: Vec<KeyValue>,
}

#[derive(Serialize)]
struct ExperimentIdAnswer {
    experiment_id: String,
}

#[derive(Serialize)]
struct ExperimentAnswer {
    experiment: Experiment,
}

pub fn tag_map(tags: Vec<KeyValue>) -> HashMap<String, String> {
    tags.into_iter().map(|tag| (tag.key, tag.value)).collect()
}

pub async fn create(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: CreateExperiment = json_body(&req, &body)?;
    let request = pb::CreateExperimentRequest {
        project: access.project,
        name: required(body.name, "name")?,
        tags: tag_map(body.tags),
    };
    let created = backends.tracking().create_experiment(request).await?.into_inner();
    answer(&ExperimentIdAnswer {
        experiment_id: created.experiment_id,
    })
}

pub async fn get(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let request = pb::GetExperimentRequest {
        project: access.project,
        experiment_id: query.require("experiment_id")?.to_owned(),
        name: String::new(),
    };
    let experiment = backends.tracking().get_experiment(request).await?.into_inner();
    answer(&ExperimentAnswer {
        experiment: experiment.into(),
    })
}

pub async fn get_by_name(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let name = query.require("experiment_name")?.to_owned();
    let request = pb::GetExperimentRequest {
        project: access.project,
        experiment_id: String::new(),
        name: name.clone(),
    };
    let experiment = backends
        .tracking()
        .get_experiment(request)
        .await
        .map_err(|status| match MlflowError::from(status) {
            err if err.status == 404 => {
                MlflowError::not_found(format!("Could not find experiment with name '{name}'"))
            }
            err => err,
        })?
        .into_inner();
    answer(&ExperimentAnswer {
        experiment: experiment.into(),
    })
}

#[derive(Deserialize, Default)]
struct SearchExperiments {
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    view_type: Option<String>,
    #[serde(default)]
    order_by: Vec<String>,
    #[serde(default)]
    page_token: Option<String>,
}

#[derive(Serialize)]
struct SearchAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    experiments: Vec<Experiment>,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_page_token: String,
}

/// The registry's view of MLflow's `ViewType` name.
pub fn view_type(name: Option<&str>) -> Result<pb::ViewType, MlflowError> {
    match name.unwrap_or("ACTIVE_ONLY") {
        "" | "ACTIVE_ONLY" => Ok(pb::ViewType::ActiveOnly),
        "DELETED_ONLY" => Ok(pb::ViewType::DeletedOnly),
        "ALL" => Ok(pb::ViewType::All),
        other => Err(MlflowError::invalid(format!(
            "Invalid view type '{other}': use ACTIVE_ONLY, DELETED_ONLY or ALL"
        ))),
    }
}

pub async fn search_post(
    access: Mlflow<Viewer>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: SearchExperiments = json_body(&req, &body)?;
    search(access, body, backends).await
}

pub async fn search_get(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let body = SearchExperiments {
        max_results: query.int("max_results")?,
        filter: query.get("filter").map(str::to_owned),
        view_type: query.get("view_type").map(str::to_owned),
        order_by: query.all("order_by"),
        page_token: query.get("page_token").map(str::to_owned),
    };
    search(access, body, backends).await
}

async fn search(access: Mlflow<Viewer>, body: SearchExperiments, backends: Services) -> Reply {
    let max_results = body.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max_results) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and {MAX_RESULTS}"
        )));
    }
    let filter = ExperimentFilter::parse(body.filter.as_deref().unwrap_or(""))?;
    let orders = body
        .order_by
        .iter()
        .map(|clause| ExperimentOrder::parse(clause))
        .collect::<Result<Vec<_>, _>>()?;
    let offset = offset_of(body.page_token.as_deref())?;
    let view = view_type(body.view_type.as_deref())?;
    let mut matching = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListExperimentsRequest {
            project: access.project.clone(),
            view: view.into(),
            page_size: LIST_PAGE,
            page_token: token,
        };
        let page = backends.tracking().list_experiments(request).await?.into_inner();
        matching.extend(
            page.experiments
                .into_iter()
                .map(Experiment::from)
                .filter(|e| filter.matches(e)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    sort(&mut matching, &orders);
    let size = usize::try_from(max_results).unwrap_or(usize::MAX);
    let end = offset.saturating_add(size);
    let next_page_token = if end < matching.len() {
        page_token(end)
    } else {
        String::new()
    };
    let experiments = matching.into_iter().skip(offset).take(size).collect();
    answer(&SearchAnswer {
        experiments,
        next_page_token,
    })
}

#[derive(Deserialize)]
struct ExperimentId {
    experiment_id: Option<String>,
}

pub async fn delete(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: ExperimentId = json_body(&req, &body)?;
    let request = pb::ExperimentRef {
        project: access.project,
        experiment_id: required(body.experiment_id, "experiment_id")?,
    };
    backends.tracking().delete_experiment(request).await?;
    empty()
}

pub async fn restore(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ExperimentId = json_body(&req, &body)?;
    let request = pb::ExperimentRef {
        project: access.project,
        experiment_id: required(body.experiment_id, "experiment_id")?,
    };
    backends.tracking().restore_experiment(request).await?;
    empty()
}

#[derive(Deserialize)]
struct UpdateExperiment {
    experiment_id: Option<String>,
    new_name: Option<String>,
}

pub async fn update(access: Mlflow<Editor>, req: HttpRequest, body: web::Bytes, backends: Services) -> Reply {
    let body: UpdateExperiment = json_body(&req, &body)?;
    let request = pb::UpdateExperimentRequest {
        project: access.project,
        experiment_id: required(body.experiment_id, "experiment_id")?,
        new_name: Some(required(body.new_name, "new_name")?),
        set_tags: HashMap::new(),
        delete_tags: Vec::new(),
    };
    backends.tracking().update_experiment(request).await?;
    empty()
}

#[derive(Deserialize)]
struct ExperimentTag {
    experiment_id: Option<String>,
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

pub async fn set_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ExperimentTag = json_body(&req, &body)?;
    let request = pb::UpdateExperimentRequest {
        project: access.project,
        experiment_id: required(body.experiment_id, "experiment_id")?,
        new_name: None,
        set_tags: HashMap::from([(required(body.key, "key")?, body.value.unwrap_or_default())]),
        delete_tags: Vec::new(),
    };
    backends.tracking().update_experiment(request).await?;
    empty()
}

pub async fn delete_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ExperimentTag = json_body(&req, &body)?;
    let request = pb::UpdateExperimentRequest {
        project: access.project,
        experiment_id: required(body.experiment_id, "experiment_id")?,
        new_name: None,
        set_tags: HashMap::new(),
        delete_tags: vec![required(body.key, "key")?],
    };
    backends.tracking().update_experiment(request).await?;
    empty()
}
