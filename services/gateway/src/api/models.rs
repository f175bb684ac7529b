//! The model registry, stored by the registry-service: registered models, their versions,
//! stage transitions under promotion gates, aliases, the audit log and lineage lookups.
//! Reads need `viewer`, writes `editor`, both the project in the token. Every change carries
//! the caller as an [`pb::Actor`], so the service evaluates gates and records who did what.

use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use lathe_common::Error;
use lathe_common::auth::{Claims, Role};
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::gate_condition::Condition;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::projects::ListQuery;
use super::rfc3339;
use crate::auth::Authenticated;
use crate::backends::Backends;
use crate::error::{ApiError, ErrorBody};

/// The caller, as the registry-service records and judges it.
fn actor(claims: &Claims) -> Option<pb::Actor> {
    Some(pb::Actor {
        subject: claims.sub.clone(),
        role: claims.role().map_or("", Role::as_str).to_owned(),
    })
}

/// Stage of a model version. Accepted in any letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(Stage::None),
            "staging" => Ok(Stage::Staging),
            "production" => Ok(Stage::Production),
            "archived" => Ok(Stage::Archived),
            _ => Err(serde::de::Error::custom(format!(
                "unknown stage '{text}': expected None, Staging, Production or Archived"
            ))),
        }
    }
}

impl From<Stage> for pb::Stage {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::None => pb::Stage::None,
            Stage::Staging => pb::Stage::Staging,
            Stage::Production => pb::Stage::Production,
            Stage::Archived => pb::Stage::Archived,
        }
    }
}

impl TryFrom<i32> for Stage {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self, Error> {
        match pb::Stage::try_from(value) {
            Ok(pb::Stage::None) => Ok(Stage::None),
            Ok(pb::Stage::Staging) => Ok(Stage::Staging),
            Ok(pb::Stage::Production) => Ok(Stage::Production),
            Ok(pb::Stage::Archived) => Ok(Stage::Archived),
            Err(_) => Err(Error::internal(format_args!("stored stage {value}"))),
        }
    }
}

/// A role a gate may require; each includes the rights of those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GateRole {
    Viewer,
    Editor,
    Admin,
}

impl GateRole {
    fn as_str(self) -> &'static str {
        match self {
            GateRole::Viewer => "viewer",
            GateRole::Editor => "editor",
            GateRole::Admin => "admin",
        }
    }
}

impl TryFrom<&str> for GateRole {
    type Error = Error;

    fn try_from(value: &str) -> Result<Self, Error> {
        match value {
            "viewer" => Ok(GateRole::Viewer),
            "editor" => Ok(GateRole::Editor),
            "admin" => Ok(GateRole::Admin),
            other => Err(Error::internal(format_args!("stored gate role '{other}'"))),
        }
    }
}

/// Compares one of the version's metrics (the run's latest, snapshotted at creation).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricCondition {
    #[schema(example = "auc")]
    pub key: String,
    /// One of `>`, `>=`, `<`, `<=`, `=`, `!=`.
    #[schema(example = ">")]
    pub op: String,
    #[schema(example = 0.85)]
    pub value: f64,
}

/// One condition of a promotion gate: exactly one of `metric`, `role` or `current_stage`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateCondition {
    Metric(MetricCondition),
    /// The caller must have at least this role.
    Role(GateRole),
    /// The version must currently be in this stage.
    CurrentStage(Stage),
}

impl From<GateCondition> for pb::GateCondition {
    fn from(condition: GateCondition) -> Self {
        let condition = match condition {
            GateCondition::Metric(m) => Condition::Metric(pb::MetricCondition {
                key: m.key,
                op: m.op,
                value: m.value,
            }),
            GateCondition::Role(role) => Condition::Role(role.as_str().to_owned()),
            GateCondition::CurrentStage(stage) => Condition::CurrentStage(pb::Stage::from(stage) as i32),
        };
        pb::GateCondition {
            condition: Some(condition),
        }
    }
}

impl TryFrom<pb::GateCondition> for GateCondition {
    type Error = Error;

    fn try_from(condition: pb::GateCondition) -> Result<Self, Error> {
        match condition.condition {
            Some(Condition::Metric(m)) => Ok(GateCondition::Metric(MetricCondition {
                key: m.key,
                op: m.op,
                value: m.value,
            })),
            Some(Condition::Role(role)) => Ok(GateCondition::Role(GateRole::try_from(role.as_str())?)),
            Some(Condition::CurrentStage(stage)) => Ok(GateCondition::CurrentStage(Stage::try_from(stage)?)),
            None => Err(Error::internal("stored gate condition is empty")),
        }
    }
}

/// A transition into `stage` is allowed only when every condition holds.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionPolicy {
    pub stage: Stage,
    #[serde(default)]
    pub conditions: Vec<GateCondition>,
}

impl From<PromotionPolicy> for pb::PromotionPolicy {
    fn from(policy: PromotionPolicy) -> Self {
        pb::PromotionPolicy {
            stage: pb::Stage::from(policy.stage) as i32,
            conditions: policy
                .conditions
                .into_iter()
                .map(pb::GateCondition::from)
                .collect(),
        }
    }
}

impl TryFrom<pb::PromotionPolicy> for PromotionPolicy {
    type Error = Error;

    fn try_from(policy: pb::PromotionPolicy) -> Result<Self, Error> {
        Ok(PromotionPolicy {
            stage: Stage::try_from(policy.stage)?,
            conditions: policy
                .conditions
                .into_iter()
                .map(GateCondition::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The inputs and output a model expects.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Feature references, `view:feature`.
    #[serde(default)]
    #[schema(example = json!(["customer_stats:tenure_days"]))]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub output: String,
}

impl From<Signature> for pb::Signature {
    fn from(s: Signature) -> Self {
        pb::Signature {
            inputs: s.inputs,
            output: s.output,
        }
    }
}

impl From<pb::Signature> for Signature {
    fn from(s: pb::Signature) -> Self {
        Signature {
            inputs: s.inputs,
            output: s.output,
        }
    }
}

/// What a version was trained from.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    #[serde(default)]
    pub feature_views: Vec<String>,
    #[serde(default)]
    pub feature_service: String,
    /// Location of the training dataset, e.g. `s3://bucket/training/2026-11-29.parquet`.
    #[serde(default)]
    pub training_dataset: String,
    /// Id of the orchestrator run that produced the version.
    #[serde(default)]
    pub orchestrator_run: String,
}

impl From<Lineage> for pb::Lineage {
    fn from(l: Lineage) -> Self {
        pb::Lineage {
            feature_views: l.feature_views,
            feature_service: l.feature_service,
            training_dataset: l.training_dataset,
            orchestrator_run: l.orchestrator_run,
        }
    }
}

impl From<pb::Lineage> for Lineage {
    fn from(l: pb::Lineage) -> Self {
        Lineage {
            feature_views: l.feature_views,
            feature_service: l.feature_service,
            training_dataset: l.training_dataset,
            orchestrator_run: l.orchestrator_run,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelVersion {
    pub project: String,
    pub model: String,
    /// Assigned by the server, never reused.
    pub version: u64,
    pub stage: Stage,
    pub aliases: Vec<String>,
    pub description: String,
    pub tags: HashMap<String, String>,
    /// Run the version came from; empty for an external artifact.
    pub run_id: String,
    /// Where the version's own, immutable copy of the artifact lives.
    pub artifact_uri: String,
    /// sha256 over the artifact tree.
    pub artifact_sha256: String,
    /// The run's latest metrics when the version was created.
    pub metrics: HashMap<String, f64>,
    pub signature: Option<Signature>,
    pub lineage: Option<Lineage>,
    pub created_by: String,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
}

impl TryFrom<pb::ModelVersion> for ModelVersion {
    type Error = Error;

    fn try_from(v: pb::ModelVersion) -> Result<Self, Error> {
        Ok(ModelVersion {
            project: v.project,
            model: v.model,
            version: v.version,
            stage: Stage::try_from(v.stage)?,
            aliases: v.aliases,
            description: v.description,
            tags: v.tags,
            run_id: v.run_id,
            artifact_uri: v.artifact_uri,
            artifact_sha256: v.artifact_sha256,
            metrics: v.metrics,
            signature: v.signature.map(Signature::from),
            lineage: v.lineage.map(Lineage::from),
            created_by: v.created_by,
            create_time: rfc3339(v.create_time),
            update_time: rfc3339(v.update_time),
        })
    }
}

fn versions_of(versions: Vec<pb::ModelVersion>) -> Result<Vec<ModelVersion>, Error> {
    versions.into_iter().map(ModelVersion::try_from).collect()
}

#[derive(Serialize, ToSchema)]
pub struct Model {
    pub project: String,
    pub name: String,
    pub description: String,
    pub tags: HashMap<String, String>,
    pub policies: Vec<PromotionPolicy>,
    /// Alias → version.
    pub aliases: HashMap<String, u64>,
    /// The highest version in each stage that has one.
    pub latest_versions: Vec<ModelVersion>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
}

impl TryFrom<pb::Model> for Model {
    type Error = Error;

    fn try_from(m: pb::Model) -> Result<Self, Error> {
        Ok(Model {
            project: m.project,
            name: m.name,
            description: m.description,
            tags: m.tags,
            policies: m
                .policies
                .into_iter()
                .map(PromotionPolicy::try_from)
                .collect::<Result<_, _>>()?,
            aliases: m.aliases,
            latest_versions: versions_of(m.latest_versions)?,
            create_time: rfc3339(m.create_time),
            update_time: rfc3339(m.update_time),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<Model>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModelVersionList {
    pub versions: Vec<ModelVersion>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct LineageMatches {
    pub versions: Vec<ModelVersion>,
}

/// One recorded move of a stage or an alias.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: u64,
    pub model: String,
    pub version: u64,
    /// `stage_transition`, `alias_set` or `alias_deleted`.
    pub action: String,
    /// Stage name or alias target before the move.
    pub from: String,
    /// Stage name or alias target after the move.
    pub to: String,
    /// Subject of the token that made the move.
    pub actor: String,
    pub reason: String,
    pub time: Option<DateTime<Utc>>,
}

impl From<pb::AuditEvent> for AuditEvent {
    fn from(e: pb::AuditEvent) -> Self {
        AuditEvent {
            id: e.id,
            model: e.model,
            version: e.version,
            action: e.action,
            from: e.from,
            to: e.to,
            actor: e.actor,
            reason: e.reason,
            time: rfc3339(e.time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    pub events: Vec<AuditEvent>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    #[schema(example = "churn-classifier")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: HashMap<String, String>,
    /// Promotion gates; setting any needs `admin`.
    #[serde(default)]
    pub policies: Vec<PromotionPolicy>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    pub description: Option<String>,
    /// Merged into the existing tags.
    #[serde(default)]
    pub set_tags: HashMap<String, String>,
    #[serde(default)]
    pub delete_tags: Vec<String>,
    /// Replaces every policy when present (`[]` removes them); needs `admin`.
    pub policies: Option<Vec<PromotionPolicy>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModelVersion {
    pub run_id: String,
    /// A directory or file in the run's artifact tree (`model`, `model/model.pkl`).
    #[schema(example = "model")]
    pub artifact_path: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: HashMap<String, String>,
    pub signature: Option<Signature>,
    pub lineage: Option<Lineage>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateModelVersion {
    pub description: Option<String>,
    /// Merged into the existing tags.
    #[serde(default)]
    pub set_tags: HashMap<String, String>,
    #[serde(default)]
    pub delete_tags: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionStage {
    pub stage: Stage,
    /// Move every other version in the target stage to Archived.
    #[serde(default)]
    pub archive_existing: bool,
    /// Recorded in the audit log.
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    pub version: u64,
    /// Recorded in the audit log.
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAlias {
    /// Recorded in the audit log.
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LineageQuery {
    /// Versions trained on this feature view.
    pub feature_view: Option<String>,
    /// Versions trained through this feature service.
    pub feature_service: Option<String>,
    /// Versions trained on this dataset location.
    pub training_dataset: Option<String>,
    /// Versions produced by this orchestrator run.
    pub orchestrator_run: Option<String>,
}

/// Registers a model (editor; admin when it sets promotion policies).
#[utoipa::path(
    path = "/api/v1/projects/{project}/models",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path)),
    request_body = CreateModel,
    responses(
        (status = 201, body = Model), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such project"),
        (status = 409, body = ErrorBody),
    ),
)]
#[post("")]
pub async fn create_model(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    body: web::Json<CreateModel>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    if !body.policies.is_empty() {
        claims.require_role(Role::Admin)?;
    }
    let request = pb::CreateModelRequest {
        project: project.into_inner(),
        name: body.name,
        description: body.description,
        tags: body.tags,
        policies: body.policies.into_iter().map(pb::PromotionPolicy::from).collect(),
        actor: actor(&claims),
    };
    let model = backends.models.clone().create_model(request).await?.into_inner();
    Ok(HttpResponse::Created().json(Model::try_from(model)?))
}

/// Registered models of a project.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ListQuery),
    responses((status = 200, body = ModelList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
)]
#[get("")]
pub async fn list_models(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    query: web::Query<ListQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let query = query.into_inner();
    let request = pb::ListModelsRequest {
        project: project.into_inner(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let response = backends.models.clone().list_models(request).await?.into_inner();
    let models = response
        .models
        .into_iter()
        .map(Model::try_from)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(ModelList {
        models,
        next_page_token: response.next_page_token,
    }))
}

/// One registered model with its policies, aliases and latest version per stage.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name")),
    responses((status = 200, body = Model), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_model(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, name) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let model = backends
        .models
        .clone()
        .get_model(pb::ModelRef { project, name })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Model::try_from(model)?))
}

/// Changes a model's description or tags (editor) or its promotion policies (admin).
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name")),
    request_body = UpdateModel,
    responses(
        (status = 200, body = Model), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[patch("/{name}")]
pub async fn update_model(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateModel>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, name) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    if body.policies.is_some() {
        claims.require_role(Role::Admin)?;
    }
    let request = pb::UpdateModelRequest {
        project,
        name,
        description: body.description,
        set_tags: body.set_tags,
        delete_tags: body.delete_tags,
        replace_policies: body.policies.is_some(),
        policies: body
            .policies
            .unwrap_or_default()
            .into_iter()
            .map(pb::PromotionPolicy::from)
            .collect(),
        actor: actor(&claims),
    };
    let model = backends.models.clone().update_model(request).await?.into_inner();
    Ok(HttpResponse::Ok().json(Model::try_from(model)?))
}

/// Deletes a model with all its versions and their artifacts (admin).
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}")]
pub async fn delete_model(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, name) = path.into_inner();
    claims.require_role(Role::Admin)?;
    claims.require_project(&project)?;
    backends
        .models
        .clone()
        .delete_model(pb::ModelRef { project, name })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers a new version of a model from a run's artifact (editor); the version keeps its
/// own copy of the artifact and a snapshot of the run's metrics.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/versions",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name")),
    request_body = CreateModelVersion,
    responses(
        (status = 201, body = ModelVersion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such model, run or artifact"),
    ),
)]
#[post("/{name}/versions")]
pub async fn create_model_version(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<CreateModelVersion>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::CreateModelVersionRequest {
        project,
        model,
        run_id: body.run_id,
        artifact_path: body.artifact_path,
        description: body.description,
        tags: body.tags,
        signature: body.signature.map(pb::Signature::from),
        lineage: body.lineage.map(pb::Lineage::from),
        actor: actor(&claims),
    };
    let version = backends
        .models
        .clone()
        .create_model_version(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Created().json(ModelVersion::try_from(version)?))
}

/// Versions of a model.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/versions",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ListQuery),
    responses(
        (status = 200, body = ModelVersionList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[get("/{name}/versions")]
pub async fn list_model_versions(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    query: web::Query<ListQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let query = query.into_inner();
    let request = pb::ListModelVersionsRequest {
        project,
        model,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let response = backends
        .models
        .clone()
        .list_model_versions(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(ModelVersionList {
        versions: versions_of(response.versions)?,
        next_page_token: response.next_page_token,
    }))
}

/// One version of a model.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/versions/{version}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ("version" = u64, Path)),
    responses(
        (status = 200, body = ModelVersion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[get("/{name}/versions/{version}")]
pub async fn get_model_version(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, u64)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model, version) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let version = backends
        .models
        .clone()
        .get_model_version(pb::ModelVersionRef {
            project,
            model,
            version,
        })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(ModelVersion::try_from(version)?))
}

/// Changes a version's description or tags (editor); its artifact and signature never change.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/versions/{version}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ("version" = u64, Path)),
    request_body = UpdateModelVersion,
    responses(
        (status = 200, body = ModelVersion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[patch("/{name}/versions/{version}")]
pub async fn update_model_version(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, u64)>,
    body: web::Json<UpdateModelVersion>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model, version) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::UpdateModelVersionRequest {
        project,
        model,
        version,
        description: body.description,
        set_tags: body.set_tags,
        delete_tags: body.delete_tags,
        actor: actor(&claims),
    };
    let version = backends
        .models
        .clone()
        .update_model_version(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(ModelVersion::try_from(version)?))
}

/// Moves a version to another stage (editor), if the model's promotion gate for that stage
/// holds; the service applies its own rule for Production as well (admin).
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/versions/{version}/stage",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ("version" = u64, Path)),
    request_body = TransitionStage,
    responses(
        (status = 200, body = ModelVersion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "A gate condition does not hold; the message lists the unmet ones"),
    ),
)]
#[post("/{name}/versions/{version}/stage")]
pub async fn transition_stage(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, u64)>,
    body: web::Json<TransitionStage>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model, version) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::TransitionStageRequest {
        project,
        model,
        version,
        stage: pb::Stage::from(body.stage) as i32,
        archive_existing: body.archive_existing,
        reason: body.reason,
        actor: actor(&claims),
    };
    let version = backends
        .models
        .clone()
        .transition_stage(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(ModelVersion::try_from(version)?))
}

/// Points an alias at a version, moving it if it points elsewhere (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/aliases/{alias}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ("alias" = String, Path)),
    request_body = SetAlias,
    responses(
        (status = 200, body = ModelVersion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[put("/{name}/aliases/{alias}")]
pub async fn set_alias(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, String)>,
    body: web::Json<SetAlias>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model, alias) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::SetAliasRequest {
        project,
        model,
        alias,
        version: body.version,
        reason: body.reason,
        actor: actor(&claims),
    };
    let version = backends.models.clone().set_alias(request).await?.into_inner();
    Ok(HttpResponse::Ok().json(ModelVersion::try_from(version)?))
}

/// Removes an alias (editor); an optional JSON body `{"reason": "…"}` goes to the audit log.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/aliases/{alias}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ("alias" = String, Path)),
    request_body(content = Option<DeleteAlias>, description = "Optional"),
    responses(
        (status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[delete("/{name}/aliases/{alias}")]
pub async fn delete_alias(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, String)>,
    body: Bytes,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model, alias) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<DeleteAlias>(&body)
            .map_err(|e| Error::invalid(format!("invalid JSON body: {e}")).with_reason("invalid_body"))?
            .reason
    };
    let request = pb::DeleteAliasRequest {
        project,
        model,
        alias,
        reason,
        actor: actor(&claims),
    };
    backends.models.clone().delete_alias(request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The version an alias points at.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/aliases/{alias}",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ("alias" = String, Path)),
    responses((status = 200, body = ModelVersion), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{name}/aliases/{alias}")]
pub async fn get_alias(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model, alias) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let version = backends
        .models
        .clone()
        .get_version_by_alias(pb::AliasRef {
            project,
            model,
            alias,
        })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(ModelVersion::try_from(version)?))
}

/// Every stage and alias move of a model: who, from what, to what, and why.
#[utoipa::path(
    path = "/api/v1/projects/{project}/models/{name}/audit",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Model name"), ListQuery),
    responses(
        (status = 200, body = AuditLog), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
#[get("/{name}/audit")]
pub async fn list_audit_events(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    query: web::Query<ListQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, model) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let query = query.into_inner();
    let request = pb::ListAuditEventsRequest {
        project,
        model,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let response = backends
        .models
        .clone()
        .list_audit_events(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(AuditLog {
        events: response.events.into_iter().map(AuditEvent::from).collect(),
        next_page_token: response.next_page_token,
    }))
}

/// Model versions trained on a feature view, through a feature service, on a dataset, or by an
/// orchestrator run: exactly one query parameter.
#[utoipa::path(
    path = "/api/v1/projects/{project}/lineage",
    tag = "models",
    security(("bearer" = [])),
    params(("project" = String, Path), LineageQuery),
    responses(
        (status = 200, body = LineageMatches), (status = 400, body = ErrorBody, description = "Not exactly one query parameter"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
)]
#[get("/lineage")]
pub async fn find_versions_by_lineage(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    query: web::Query<LineageQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let query = query.into_inner();
    let given = [
        &query.feature_view,
        &query.feature_service,
        &query.training_dataset,
        &query.orchestrator_run,
    ]
    .iter()
    .filter(|value| value.as_deref().is_some_and(|v| !v.is_empty()))
    .count();
    if given != 1 {
        return Err(Error::invalid(
            "give exactly one of feature_view, feature_service, training_dataset or orchestrator_run",
        )
        .with_reason("invalid_lineage_query")
        .into());
    }
    let request = pb::FindVersionsByLineageRequest {
        project: project.into_inner(),
        feature_view: query.feature_view.unwrap_or_default(),
        feature_service: query.feature_service.unwrap_or_default(),
        training_dataset: query.training_dataset.unwrap_or_default(),
        orchestrator_run: query.orchestrator_run.unwrap_or_default(),
    };
    let response = backends
        .models
        .clone()
        .find_versions_by_lineage(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(LineageMatches {
        versions: versions_of(response.versions)?,
    }))
}
