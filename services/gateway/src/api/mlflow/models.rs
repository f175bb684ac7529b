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
    /// The version's own copy of its files in the registry's store.
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
            source: v.artifact_uri,
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
    #[serde(default)]
    tags: Vec<KeyValue>,
    description: Option<String>,
}

/// The run and the path in its artifact tree that a version's `source` names:
/// `runs:/<run_id>/<path>`, or `mlflow-artifacts:/<exp>/<run_id>/artifacts/<path>`.
fn run_source(source: &str, run_id: Option<&str>) -> Result<(String, String), MlflowError> {
    let unsupported = || {
        MlflowError::invalid(format!(
            "Unsupported model version source '{source}': Lathe registers a version from a run's artifacts, \
             named runs:/<run_id>/<path> or mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>"
        ))
    };
    let (source_run, path) = if let Some(rest) = source.strip_prefix("runs:/") {
        let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
        (run.to_owned(), path.to_owned())
    } else if let Some(rest) = source.strip_prefix("mlflow-artifacts:/") {
        let location = super::artifacts::locate(rest)?.ok_or_else(unsupported)?;
        (location.run_id, location.path)
    } else {
        return Err(unsupported());
    };
    if source_run.is_empty() || path.trim_matches('/').is_empty() {
        return Err(unsupported());
    }
    if let Some(run_id) = run_id.filter(|id| !id.is_empty() && *id != source_run) {
        return Err(MlflowError::invalid(format!(
            "The source '{source}' names run '{source_run}', not the run_id '{run_id}'"
        )));
    }
    Ok((source_run, path.trim_matches('/').to_owned()))
}

pub async fn create_version(
    access: Mlflow<Editor>,
    req: HttpRequest,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let body: CreateVersion = json_body(&req, &body)?;
    let source = required(body.source, "source")?;
    let (run_id, artifact_path) = run_source(&source, body.run_id.as_deref())?;
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
    backends.models().delete_alias(request).await?;
    empty()
}
