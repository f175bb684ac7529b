//! MLflow's model registry calls (`/api/2.0/mlflow/registered-models/...`,
//! `/model-versions/...`) on the registry's models, versions, stages and aliases. Stage moves
//! and aliases go through the registry's promotion gates: a gate that fails is MLflow's 400
//! INVALID_PARAMETER_VALUE, its message listing each unmet condition.

use actix_web::{HttpRequest, HttpResponse, web};
use lathe_common::auth::Role;
use lathe_common::reasons;
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};

use super::entities::{key_values, millis};
use super::error::MlflowError;
use super::experiment_search::{ExperimentFilter, Searched, Subject, offset_of, page_token};
use super::experiments::tag_map;
use super::request::{KeyValue, Mlflow, QueryFields, answer, empty, json_body, required};
use crate::api::Services;
use crate::auth::{Admin, Editor, Viewer};

type Reply = Result<HttpResponse, MlflowError>;

impl<R> Mlflow<R> {
    /// The caller as the registry records it and judges it by promotion gates.
    pub fn actor(&self) -> Option<pb::Actor> {
        Some(pb::Actor {
            subject: self.claims.sub.clone(),
            role: self.claims.role().map_or("", Role::as_str).to_owned(),
        })
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn stage_name(stage: i32) -> &'static str {
    match pb::Stage::try_from(stage) {
        Ok(pb::Stage::Staging) => "Staging",
        Ok(pb::Stage::Production) => "Production",
        Ok(pb::Stage::Archived) => "Archived",
        Ok(pb::Stage::None) | Err(_) => "None",
    }
}

/// MLflow's stage name, matched case-insensitively as MLflow does.
fn parse_stage(name: &str) -> Result<pb::Stage, MlflowError> {
    match name.to_ascii_lowercase().as_str() {
        "none" => Ok(pb::Stage::None),
        "staging" => Ok(pb::Stage::Staging),
        "production" => Ok(pb::Stage::Production),
        "archived" => Ok(pb::Stage::Archived),
        _ => Err(MlflowError::invalid(format!(
            "Invalid Model Version stage: {name}. Value must be one of None, Staging, Production, Archived."
        ))),
    }
}

/// A version number as MLflow sends it: a string (or a number) of digits.
fn parse_version(version: Option<String>) -> Result<u64, MlflowError> {
    let version = required(version, "version")?;
    version
        .parse()
        .map_err(|_| MlflowError::invalid(format!("Model version must be an integer, got '{version}'")))
}

#[derive(Serialize)]
pub struct ModelVersion {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "is_zero")]
    creation_timestamp: i64,
    #[serde(skip_serializing_if = "is_zero")]
    last_updated_timestamp: i64,
    current_stage: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    /// What the version was created from, as given (`models:/m-…`, `runs:/<run>/<path>`).
    source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    run_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    user_id: String,
    /// The logged model it was registered from.
    #[serde(skip_serializing_if = "String::is_empty")]
    model_id: String,
}

impl From<pb::ModelVersion> for ModelVersion {
    fn from(v: pb::ModelVersion) -> ModelVersion {
        let mut aliases = v.aliases;
        aliases.sort();
        ModelVersion {
            version: v.version.to_string(),
            creation_timestamp: millis(v.create_time.as_ref()),
            last_updated_timestamp: millis(v.update_time.as_ref()),
            current_stage: stage_name(v.stage),
            description: v.description,
            // Versions registered before sources were kept answer where their copy lives.
            source: if v.source.is_empty() {
                v.artifact_uri
            } else {
                v.source
            },
            model_id: v.logged_model_id,
            run_id: v.run_id,
            // A version exists only once its files are copied: always ready.
            status: "READY",
            tags: key_values(v.tags),
            aliases,
            user_id: v.created_by,
            name: v.model,
        }
    }
}

impl Searched for ModelVersion {
    fn name(&self) -> &str {
        &self.name
    }
    fn tag(&self, key: &str) -> Option<&str> {
        super::request::value_of(&self.tags, key)
    }
    fn creation_time(&self) -> i64 {
        self.creation_timestamp
    }
    fn last_update_time(&self) -> i64 {
        self.last_updated_timestamp
    }
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn version_number(&self) -> i64 {
        self.version.parse().unwrap_or(0)
    }
    fn source(&self) -> &str {
        &self.source
    }
}

#[derive(Serialize)]
struct AliasEntry {
    alias: String,
    version: String,
}

#[derive(Serialize)]
pub struct RegisteredModel {
    name: String,
    #[serde(skip_serializing_if = "is_zero")]
    creation_timestamp: i64,
    #[serde(skip_serializing_if = "is_zero")]
    last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    latest_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<AliasEntry>,
}

impl From<pb::Model> for RegisteredModel {
    fn from(m: pb::Model) -> RegisteredModel {
        let mut aliases: Vec<AliasEntry> = m
            .aliases
            .into_iter()
            .map(|(alias, version)| AliasEntry {
                alias,
                version: version.to_string(),
            })
            .collect();
        aliases.sort_by(|a, b| a.alias.cmp(&b.alias));
        RegisteredModel {
            creation_timestamp: millis(m.create_time.as_ref()),
            last_updated_timestamp: millis(m.update_time.as_ref()),
            description: m.description,
            latest_versions: m.latest_versions.into_iter().map(ModelVersion::from).collect(),
            tags: key_values(m.tags),
            aliases,
            name: m.name,
        }
    }
}

impl Searched for RegisteredModel {
    fn name(&self) -> &str {
        &self.name
    }
    fn tag(&self, key: &str) -> Option<&str> {
        super::request::value_of(&self.tags, key)
    }
    fn creation_time(&self) -> i64 {
        self.creation_timestamp
    }
    fn last_update_time(&self) -> i64 {
        self.last_updated_timestamp
    }
}

#[derive(Serialize)]
struct ModelAnswer {
    registered_model: RegisteredModel,
}

#[derive(Serialize)]
struct VersionAnswer {
    model_version: ModelVersion,
}

#[derive(Deserialize)]
struct CreateModel {
    name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    #[serde(default)]
    description: Option<String>,
}

pub async fn create_model(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: CreateModel = json_body(&req, &body)?;
    let request = pb::CreateModelRequest {
        actor: access.actor(),
        project: access.project,
        name: required(body.name, "name")?,
        description: body.description.unwrap_or_default(),
        tags: tag_map(body.tags),
        policies: Vec::new(),
    };
    let model = backends.models().create_model(request).await?.into_inner();
    answer(&ModelAnswer {
        registered_model: model.into(),
    })
}

pub async fn get_model(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let request = pb::ModelRef {
        project: access.project,
        name: query.require("name")?.to_owned(),
    };
    let model = backends.models().get_model(request).await?.into_inner();
    answer(&ModelAnswer {
        registered_model: model.into(),
    })
}

#[derive(Deserialize)]
struct ModelFields {
    name: Option<String>,
    new_name: Option<String>,
    description: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

fn update_request(project: String, name: String) -> pb::UpdateModelRequest {
    pb::UpdateModelRequest {
        project,
        name,
        description: None,
        set_tags: Default::default(),
        delete_tags: Vec::new(),
        replace_policies: false,
        policies: Vec::new(),
        actor: None,
    }
}

pub async fn update_model(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ModelFields = json_body(&req, &body)?;
    let mut request = update_request(access.project.clone(), required(body.name, "name")?);
    request.description = Some(body.description.unwrap_or_default());
    request.actor = access.actor();
    let model = backends.models().update_model(request).await?.into_inner();
    answer(&ModelAnswer {
        registered_model: model.into(),
    })
}

pub async fn set_model_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ModelFields = json_body(&req, &body)?;
    let mut request = update_request(access.project.clone(), required(body.name, "name")?);
    request
        .set_tags
        .insert(required(body.key, "key")?, body.value.unwrap_or_default());
    request.actor = access.actor();
    backends.models().update_model(request).await?;
    empty()
}

pub async fn delete_model_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ModelFields = json_body(&req, &body)?;
    let mut request = update_request(access.project.clone(), required(body.name, "name")?);
    request.delete_tags.push(required(body.key, "key")?);
    request.actor = access.actor();
    backends.models().update_model(request).await?;
    empty()
}

/// Renames a model; its versions, aliases and gates move with it.
pub async fn rename_model(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ModelFields = json_body(&req, &body)?;
    let request = pb::RenameModelRequest {
        name: required(body.name, "name")?,
        new_name: required(body.new_name, "new_name")?,
        actor: access.actor(),
        project: access.project,
    };
    let model = backends.models().rename_model(request).await?.into_inner();
    answer(&ModelAnswer {
        registered_model: model.into(),
    })
}

/// Deletes a model with its versions (admin, as on Lathe's own API).
pub async fn delete_model(
    access: Mlflow<Admin>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: ModelFields = json_body(&req, &body)?;
    let request = pb::ModelRef {
        project: access.project,
        name: required(body.name, "name")?,
    };
    backends.models().delete_model(request).await?;
    empty()
}

#[derive(Deserialize)]
struct CreateVersion {
    name: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    model_id: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    description: Option<String>,
}

/// What a version's `source` names: a run's artifact, or a logged model's files.
#[derive(Debug, PartialEq)]
enum VersionSource {
    /// A run, and a path in its artifact tree.
    Run {
        run_id: String,
        path: String,
    },
    LoggedModel {
        model_id: String,
    },
}

/// Reads a version's `source`: `runs:/<run_id>/<path>`,
/// `mlflow-artifacts:/<exp>/<run_id>/artifacts/<path>`, `models:/m-<id>` or
/// `mlflow-artifacts:/<exp>/models/m-<id>/artifacts` (a logged model's root).
fn version_source(
    source: &str,
    run_id: Option<&str>,
    model_id: Option<&str>,
) -> Result<VersionSource, MlflowError> {
    let unsupported = || {
        MlflowError::invalid(format!(
            "Unsupported model version source '{source}': Lathe registers a version from a logged model \
             (models:/m-<id>) or from a run's artifacts, named runs:/<run_id>/<path> or \
             mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>"
        ))
    };
    let parsed = if let Some(rest) = source.strip_prefix("runs:/") {
        let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
        VersionSource::Run {
            run_id: run.to_owned(),
            path: path.to_owned(),
        }
    } else if let Some(id) = source.strip_prefix("models:/") {
        let id = id.trim_end_matches('/');
        if !id.starts_with("m-") || id.contains('/') {
            return Err(unsupported());
        }
        VersionSource::LoggedModel {
            model_id: id.to_owned(),
        }
    } else if let Some(rest) = source.strip_prefix("mlflow-artifacts:/") {
        let location = super::artifacts::locate(rest)?.ok_or_else(unsupported)?;
        match location.tree {
            super::artifacts::Tree::Run { run_id, .. } => VersionSource::Run {
                run_id,
                path: location.path,
            },
            super::artifacts::Tree::LoggedModel { model_id, .. } if location.path.is_empty() => {
                VersionSource::LoggedModel { model_id }
            }
            super::artifacts::Tree::LoggedModel { .. } | super::artifacts::Tree::Version { .. } => {
                return Err(unsupported());
            }
        }
    } else {
        return Err(unsupported());
    };
    match parsed {
        VersionSource::Run {
            run_id: source_run,
            path,
        } => {
            if source_run.is_empty() || path.trim_matches('/').is_empty() {
                return Err(unsupported());
            }
            if let Some(run_id) = run_id.filter(|id| !id.is_empty() && *id != source_run) {
                return Err(MlflowError::invalid(format!(
                    "The source '{source}' names run '{source_run}', not the run_id '{run_id}'"
                )));
            }
            Ok(VersionSource::Run {
                run_id: source_run,
                path: path.trim_matches('/').to_owned(),
            })
        }
        VersionSource::LoggedModel {
            model_id: source_model,
        } => {
            if let Some(model_id) = model_id.filter(|id| !id.is_empty() && *id != source_model) {
                return Err(MlflowError::invalid(format!(
                    "The source '{source}' names logged model '{source_model}', not the model_id '{model_id}'"
                )));
            }
            Ok(VersionSource::LoggedModel {
                model_id: source_model,
            })
        }
    }
}

/// `POST /model-versions/create`: the registry copies the source's files into the version,
/// which keeps `source` as given. A logged model's version names the logged model's run.
pub async fn create_version(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: CreateVersion = json_body(&req, &body)?;
    let source = required(body.source, "source")?;
    let (run_id, artifact_path, logged_model_id) =
        match version_source(&source, body.run_id.as_deref(), body.model_id.as_deref())? {
            VersionSource::Run { run_id, path } => (run_id, path, String::new()),
            VersionSource::LoggedModel { model_id } => (String::new(), String::new(), model_id),
        };
    let request = pb::CreateModelVersionRequest {
        actor: access.actor(),
        project: access.project,
        model: required(body.name, "name")?,
        run_id,
        artifact_path,
        description: body.description.unwrap_or_default(),
        tags: tag_map(body.tags),
        signature: None,
        lineage: None,
        logged_model_id,
        source,
    };
    let version = backends
        .models()
        .create_model_version(request)
        .await?
        .into_inner();
    answer(&VersionAnswer {
        model_version: version.into(),
    })
}

#[derive(Serialize)]
struct DownloadUriAnswer {
    artifact_uri: String,
}

/// `GET /model-versions/get-download-uri`: where the version's own, immutable copy of its files
/// is on the artifact proxy. MLflow answers the source's location (a logged model's, a run's
/// `runs:/` URI); Lathe copies the files into the version when it is created, so the copy is
/// what a load reads, whatever happened to the run or logged model since. A version from a
/// run's directory `…/model` holds `model/…`, so its URI ends in that directory.
pub async fn get_download_uri(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let request = pb::ModelVersionRef {
        project: access.project,
        model: query.require("name")?.to_owned(),
        version: parse_version(query.get("version").map(str::to_owned))?,
    };
    let version = backends.models().get_model_version(request).await?.into_inner();
    let root = super::artifacts::version_artifacts_root(&version.model, version.version);
    let top = match version_source(&version.source, None, None) {
        Ok(VersionSource::Run { path, .. }) => path.rsplit('/').next().map(str::to_owned),
        Ok(VersionSource::LoggedModel { .. }) | Err(_) => None,
    };
    let artifact_uri = match top {
        Some(top) => format!("mlflow-artifacts:/{root}/{top}"),
        None => format!("mlflow-artifacts:/{root}"),
    };
    answer(&DownloadUriAnswer { artifact_uri })
}

pub async fn get_version(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let request = pb::ModelVersionRef {
        project: access.project,
        model: query.require("name")?.to_owned(),
        version: parse_version(query.get("version").map(str::to_owned))?,
    };
    let version = backends.models().get_model_version(request).await?.into_inner();
    answer(&VersionAnswer {
        model_version: version.into(),
    })
}

#[derive(Deserialize)]
struct VersionFields {
    name: Option<String>,
    #[serde(default, deserialize_with = "version_text")]
    version: Option<String>,
    description: Option<String>,
    key: Option<String>,
    value: Option<String>,
    stage: Option<String>,
    #[serde(default)]
    archive_existing_versions: bool,
}

/// A version sent as a string or as a number.
fn version_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Version {
        Number(u64),
        Text(String),
    }
    Ok(
        Option::<Version>::deserialize(deserializer)?.map(|version| match version {
            Version::Number(n) => n.to_string(),
            Version::Text(text) => text,
        }),
    )
}

fn version_update(access: &Mlflow<Editor>, model: String, version: u64) -> pb::UpdateModelVersionRequest {
    pb::UpdateModelVersionRequest {
        project: access.project.clone(),
        model,
        version,
        description: None,
        set_tags: Default::default(),
        delete_tags: Vec::new(),
        actor: access.actor(),
    }
}

/// Deletes one version (admin, as deleting a model); the others keep their numbers.
pub async fn delete_version(
    access: Mlflow<Admin>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: VersionFields = json_body(&req, &body)?;
    let request = pb::DeleteModelVersionRequest {
        model: required(body.name, "name")?,
        version: parse_version(body.version)?,
        actor: access.actor(),
        project: access.project,
    };
    backends.models().delete_model_version(request).await?;
    empty()
}

pub async fn update_version(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: VersionFields = json_body(&req, &body)?;
    let mut request = version_update(
        &access,
        required(body.name, "name")?,
        parse_version(body.version)?,
    );
    request.description = Some(body.description.unwrap_or_default());
    let version = backends
        .models()
        .update_model_version(request)
        .await?
        .into_inner();
    answer(&VersionAnswer {
        model_version: version.into(),
    })
}

pub async fn set_version_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: VersionFields = json_body(&req, &body)?;
    let mut request = version_update(
        &access,
        required(body.name, "name")?,
        parse_version(body.version)?,
    );
    request
        .set_tags
        .insert(required(body.key, "key")?, body.value.unwrap_or_default());
    backends.models().update_model_version(request).await?;
    empty()
}

pub async fn delete_version_tag(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: VersionFields = json_body(&req, &body)?;
    let mut request = version_update(
        &access,
        required(body.name, "name")?,
        parse_version(body.version)?,
    );
    request.delete_tags.push(required(body.key, "key")?);
    backends.models().update_model_version(request).await?;
    empty()
}

/// Moves a version to a stage through the registry's gates.
pub async fn transition_stage(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: VersionFields = json_body(&req, &body)?;
    let stage = parse_stage(&required(body.stage, "stage")?)?;
    let request = pb::TransitionStageRequest {
        actor: access.actor(),
        project: access.project,
        model: required(body.name, "name")?,
        version: parse_version(body.version)?,
        stage: stage.into(),
        archive_existing: body.archive_existing_versions,
        reason: String::new(),
    };
    let version = backends.models().transition_stage(request).await?.into_inner();
    answer(&VersionAnswer {
        model_version: version.into(),
    })
}

/// MLflow's alias rule: `^[\w\-]*$`, at most 255 characters, neither `latest` nor `v<digits>`.
fn check_alias(alias: &str) -> Result<(), MlflowError> {
    let lower = alias.to_ascii_lowercase();
    if lower == "latest"
        || (lower.len() > 1 && lower.starts_with('v') && lower[1..].bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(MlflowError::invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    if alias.chars().count() > 255 || !alias.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(MlflowError::invalid(format!(
            "Invalid alias name '{alias}': at most 255 letters, digits, '_' or '-'."
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct AliasFields {
    name: Option<String>,
    alias: Option<String>,
    #[serde(default, deserialize_with = "version_text")]
    version: Option<String>,
}

pub async fn set_alias(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: AliasFields = json_body(&req, &body)?;
    let alias = required(body.alias, "alias")?;
    check_alias(&alias)?;
    let request = pb::SetAliasRequest {
        actor: access.actor(),
        project: access.project,
        model: required(body.name, "name")?,
        alias,
        version: parse_version(body.version)?,
        reason: String::new(),
    };
    backends.models().set_alias(request).await?;
    empty()
}

/// The version an alias points at; an unset alias is 400, as MLflow answers it.
pub async fn get_alias(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let alias = query.require("alias")?.to_owned();
    let request = pb::AliasRef {
        project: access.project,
        model: query.require("name")?.to_owned(),
        alias: alias.clone(),
    };
    let version = match backends.models().get_version_by_alias(request).await {
        Ok(version) => version.into_inner(),
        Err(status) => {
            let err = lathe_common::Error::from(status);
            return Err(if err.reason == reasons::ALIAS_NOT_FOUND.name {
                MlflowError::invalid(format!("Registered model alias {alias} not found."))
            } else {
                MlflowError::from(err)
            });
        }
    };
    answer(&VersionAnswer {
        model_version: version.into(),
    })
}

pub async fn delete_alias(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: AliasFields = json_body(&req, &body)?;
    let request = pb::DeleteAliasRequest {
        actor: access.actor(),
        project: access.project,
        model: required(body.name, "name")?,
        alias: required(body.alias, "alias")?,
        reason: String::new(),
    };
    match backends.models().delete_alias(request).await {
        Ok(_) => empty(),
        // MLflow answers `{}` for an alias that is not set: deleting it is already done.
        Err(status) => {
            let error = lathe_common::Error::from(status);
            if error.reason == lathe_common::reasons::ALIAS_NOT_FOUND.name {
                empty()
            } else {
                Err(error.into())
            }
        }
    }
}

/// MLflow's default and largest page of `registered-models/search`.
const DEFAULT_MODEL_RESULTS: i64 = 100;
const MAX_MODEL_RESULTS: i64 = 1000;

#[derive(Serialize)]
struct ModelSearchAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    registered_models: Vec<RegisteredModel>,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_page_token: String,
}

/// Registered models matching MLflow's filter (`name = 'm'`, `name LIKE 'churn%'`,
/// `tags.k = 'v'`, joined by AND), ordered by `name` (default), `timestamp` or
/// `last_updated_timestamp`, in offset pages as MLflow issues them. The registry lists the
/// project's models and the gateway filters them.
pub async fn search_models(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let max_results = query.int("max_results")?.unwrap_or(DEFAULT_MODEL_RESULTS);
    if !(1..=MAX_MODEL_RESULTS).contains(&max_results) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and {MAX_MODEL_RESULTS}"
        )));
    }
    let filter = ExperimentFilter::parse(query.get("filter").unwrap_or(""))?;
    let orders = query
        .all("order_by")
        .iter()
        .map(|clause| model_order(clause))
        .collect::<Result<Vec<_>, _>>()?;
    let offset = offset_of(query.get("page_token"))?;
    let mut matching = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListModelsRequest {
            project: access.project.clone(),
            page_size: 1000,
            page_token: token,
        };
        let page = backends.models().list_models(request).await?.into_inner();
        matching.extend(
            page.models
                .into_iter()
                .map(RegisteredModel::from)
                .filter(|model| filter.matches_missing_tags_unequal(model)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    matching.sort_by(|a, b| {
        orders
            .iter()
            .map(|(key, descending)| {
                let ordering = match key {
                    ModelOrder::Name => a.name.cmp(&b.name),
                    ModelOrder::Created => a.creation_timestamp.cmp(&b.creation_timestamp),
                    ModelOrder::Updated => a.last_updated_timestamp.cmp(&b.last_updated_timestamp),
                };
                if *descending { ordering.reverse() } else { ordering }
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| a.name.cmp(&b.name))
    });
    let size = usize::try_from(max_results).unwrap_or(usize::MAX);
    let end = offset.saturating_add(size);
    let next_page_token = if end < matching.len() {
        page_token(end)
    } else {
        String::new()
    };
    answer(&ModelSearchAnswer {
        registered_models: matching.into_iter().skip(offset).take(size).collect(),
        next_page_token,
    })
}

#[derive(Clone, Copy)]
enum ModelOrder {
    Name,
    Created,
    Updated,
}

fn model_order(clause: &str) -> Result<(ModelOrder, bool), MlflowError> {
    order_clause(
        clause,
        &[
            ("name", ModelOrder::Name),
            ("timestamp", ModelOrder::Created),
            ("creation_timestamp", ModelOrder::Created),
            ("last_updated_timestamp", ModelOrder::Updated),
        ],
        "registered models sort by name, timestamp or last_updated_timestamp",
    )
}

/// An `order_by` clause, `key [ASC|DESC]`: the key's order (one of `keys`) and whether it
/// descends; `sorts_by` says what the keys are when the clause names another.
fn order_clause<K: Copy>(clause: &str, keys: &[(&str, K)], sorts_by: &str) -> Result<(K, bool), MlflowError> {
    let mut words = clause.split_whitespace();
    let name = words.next().unwrap_or("");
    let Some(key) = keys.iter().find(|(k, _)| *k == name).map(|(_, key)| *key) else {
        return Err(MlflowError::invalid(format!(
            "Invalid order_by clause '{clause}': {sorts_by}, not '{name}'"
        )));
    };
    let descending = match words.next() {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("asc") => false,
        Some(d) if d.eq_ignore_ascii_case("desc") => true,
        Some(_) => {
            return Err(MlflowError::invalid(format!(
                "Invalid order_by clause '{clause}'"
            )));
        }
    };
    Ok((key, descending))
}

/// MLflow's default and largest page of `model-versions/search`.
const DEFAULT_VERSION_RESULTS: i64 = 10_000;
const MAX_VERSION_RESULTS: i64 = 200_000;

#[derive(Serialize)]
struct VersionSearchAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    model_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "String::is_empty")]
    next_page_token: String,
}

/// The versions of `model`, newest first (the registry's order), all of them or the `wanted`
/// newest; none when the model does not exist.
async fn versions_of(
    backends: &Services,
    project: &str,
    model: &str,
    wanted: Option<usize>,
) -> Result<Vec<ModelVersion>, MlflowError> {
    let mut versions = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListModelVersionsRequest {
            project: project.to_owned(),
            model: model.to_owned(),
            page_size: wanted.map_or(1000, |n| n.saturating_sub(versions.len()).clamp(1, 1000) as u32),
            page_token: token,
        };
        let page = match backends.models().list_model_versions(request).await {
            Ok(page) => page.into_inner(),
            Err(status) => {
                let err = MlflowError::from(status);
                return if err.status == 404 { Ok(versions) } else { Err(err) };
            }
        };
        versions.extend(page.versions.into_iter().map(ModelVersion::from));
        if page.next_page_token.is_empty() || wanted.is_some_and(|n| versions.len() >= n) {
            return Ok(versions);
        }
        token = page.next_page_token;
    }
}

/// Model versions matching MLflow's filter (`name = 'm'`, `run_id = '…'`,
/// `version_number > 1`, `tags.k = 'v'`, `LIKE`, joined by AND), ordered by `name`,
/// `version_number`, `creation_timestamp` or `last_updated_timestamp` (default: name, then the
/// newest version first), in offset pages. With `name = 'm'` only that model's versions are
/// read; otherwise every model's.
pub async fn search_versions(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let max_results = query.int("max_results")?.unwrap_or(DEFAULT_VERSION_RESULTS);
    if !(1..=MAX_VERSION_RESULTS).contains(&max_results) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and {MAX_VERSION_RESULTS}"
        )));
    }
    let filter = ExperimentFilter::parse_for(query.get("filter").unwrap_or(""), Subject::ModelVersions)?;
    let orders = query
        .all("order_by")
        .iter()
        .map(|clause| version_order(clause))
        .collect::<Result<Vec<_>, _>>()?;
    let offset = offset_of(query.get("page_token"))?;
    let models = match filter.exact_name() {
        Some(name) => vec![name.to_owned()],
        None => {
            let mut names = Vec::new();
            let mut token = String::new();
            loop {
                let request = pb::ListModelsRequest {
                    project: access.project.clone(),
                    page_size: 1000,
                    page_token: token,
                };
                let page = backends.models().list_models(request).await?.into_inner();
                names.extend(page.models.into_iter().map(|model| model.name));
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            names
        }
    };
    // One model, no other condition, newest first (the default, or by version descending):
    // the registry's order already, so only the versions up to the page's end are read.
    let newest_first = match orders.as_slice() {
        [] | [(VersionOrder::Version, true)] => true,
        [
            (VersionOrder::Name | VersionOrder::Version | VersionOrder::Created | VersionOrder::Updated, _),
            ..,
        ] => false,
    };
    let wanted = (filter.is_exact_name_only() && newest_first).then(|| {
        offset
            .saturating_add(usize::try_from(max_results).unwrap_or(usize::MAX))
            .saturating_add(1)
    });
    let mut matching = Vec::new();
    for model in &models {
        let versions = versions_of(&backends, &access.project, model, wanted).await?;
        matching.extend(versions.into_iter().filter(|version| filter.matches(version)));
    }
    matching.sort_by(|a, b| {
        orders
            .iter()
            .map(|(key, descending)| {
                let ordering = match key {
                    VersionOrder::Name => a.name.cmp(&b.name),
                    VersionOrder::Version => a.version_number().cmp(&b.version_number()),
                    VersionOrder::Created => a.creation_timestamp.cmp(&b.creation_timestamp),
                    VersionOrder::Updated => a.last_updated_timestamp.cmp(&b.last_updated_timestamp),
                };
                if *descending { ordering.reverse() } else { ordering }
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| {
                a.name
                    .cmp(&b.name)
                    .then_with(|| b.version_number().cmp(&a.version_number()))
            })
    });
    let size = usize::try_from(max_results).unwrap_or(usize::MAX);
    let end = offset.saturating_add(size);
    let next_page_token = if end < matching.len() {
        page_token(end)
    } else {
        String::new()
    };
    answer(&VersionSearchAnswer {
        model_versions: matching.into_iter().skip(offset).take(size).collect(),
        next_page_token,
    })
}

#[derive(Clone, Copy)]
enum VersionOrder {
    Name,
    Version,
    Created,
    Updated,
}

fn version_order(clause: &str) -> Result<(VersionOrder, bool), MlflowError> {
    order_clause(
        clause,
        &[
            ("name", VersionOrder::Name),
            ("version_number", VersionOrder::Version),
            ("creation_timestamp", VersionOrder::Created),
            ("timestamp", VersionOrder::Created),
            ("last_updated_timestamp", VersionOrder::Updated),
        ],
        "model versions sort by name, version_number, creation_timestamp or last_updated_timestamp",
    )
}

#[derive(Deserialize, Default)]
struct LatestVersions {
    name: Option<String>,
    #[serde(default)]
    stages: Vec<String>,
}

#[derive(Serialize)]
struct LatestVersionsAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    model_versions: Vec<ModelVersion>,
}

pub async fn latest_versions_post(
    access: Mlflow<Viewer>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: LatestVersions = json_body(&req, &body)?;
    latest_versions(access, body, backends).await
}

pub async fn latest_versions_get(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let body = LatestVersions {
        name: query.get("name").map(str::to_owned),
        stages: query.all("stages"),
    };
    latest_versions(access, body, backends).await
}

/// For each requested stage (every stage when none is), the model's highest version in it.
async fn latest_versions(access: Mlflow<Viewer>, body: LatestVersions, backends: Services) -> Reply {
    let name = required(body.name, "name")?;
    let stages = if body.stages.is_empty() {
        vec![
            pb::Stage::None,
            pb::Stage::Staging,
            pb::Stage::Production,
            pb::Stage::Archived,
        ]
    } else {
        body.stages
            .iter()
            .map(|stage| parse_stage(stage))
            .collect::<Result<Vec<_>, _>>()?
    };
    // The registry keeps each stage's newest version with the model (an unknown model is
    // 404, as in MLflow): one read, however many versions the model has.
    let model = pb::ModelRef {
        project: access.project.clone(),
        name,
    };
    let model = backends.models().get_model(model).await?.into_inner();
    let mut newest: Vec<ModelVersion> = model
        .latest_versions
        .into_iter()
        .map(ModelVersion::from)
        .collect();
    let mut latest = Vec::new();
    for stage in stages {
        let stage = stage_name(stage.into());
        if let Some(index) = newest.iter().position(|version| version.current_stage == stage) {
            latest.push(newest.remove(index));
        }
    }
    answer(&LatestVersionsAnswer {
        model_versions: latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_source_names_a_run_path_or_a_logged_model() {
        let run = |run_id: &str, path: &str| VersionSource::Run {
            run_id: run_id.to_owned(),
            path: path.to_owned(),
        };
        assert_eq!(
            version_source("runs:/abc/model", None, None).unwrap(),
            run("abc", "model")
        );
        assert_eq!(
            version_source("mlflow-artifacts:/6/abc/artifacts/sk_model/", Some("abc"), None).unwrap(),
            run("abc", "sk_model")
        );
        let logged = VersionSource::LoggedModel {
            model_id: "m-0123".to_owned(),
        };
        assert_eq!(
            version_source("models:/m-0123", None, Some("m-0123")).unwrap(),
            logged
        );
        assert_eq!(
            version_source("mlflow-artifacts:/6/models/m-0123/artifacts", None, None).unwrap(),
            logged
        );
        for (source, run_id, model_id) in [
            ("models:/churn/1", None, None),
            ("models:/m-0123", None, Some("m-other")),
            ("s3://bucket/model", None, None),
            ("runs:/abc", None, None),
            ("runs:/abc/model", Some("other"), None),
            ("mlflow-artifacts:/6/abc/artifacts/../x", None, None),
            ("mlflow-artifacts:/6/models/m-0123/artifacts/MLmodel", None, None),
        ] {
            let err = version_source(source, run_id, model_id).unwrap_err();
            assert_eq!(
                (err.code, err.status),
                ("INVALID_PARAMETER_VALUE", 400),
                "{source}"
            );
        }
    }

    #[test]
    fn aliases_follow_mlflows_rules() {
        for good in ["champion", "challenger-2", "v1a", "A_b"] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for reserved in ["latest", "LATEST", "v1", "V42"] {
            assert!(
                check_alias(reserved).unwrap_err().message.contains("is reserved"),
                "{reserved}"
            );
        }
        assert!(check_alias("has space").is_err());
        assert!(check_alias(&"a".repeat(256)).is_err());
    }

    #[test]
    fn stages_match_case_insensitively() {
        assert_eq!(parse_stage("staging").unwrap(), pb::Stage::Staging);
        assert_eq!(parse_stage("None").unwrap(), pb::Stage::None);
        assert_eq!(stage_name(pb::Stage::Production.into()), "Production");
        assert!(parse_stage("NotAStage").is_err());
    }
}
