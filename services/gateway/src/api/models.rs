//! The model registry, stored by the registry-service: registered models, their versions,
//! stage transitions under promotion gates, aliases, the audit log and lineage lookups.
//! Reads need `viewer`, writes `editor`, both the project in the token. Every change carries
//! the caller as an [`pb::Actor`], so the service evaluates gates and records who did what.
//! Bodies and answers are the contract's messages (`lathe_contract::json`).

use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use lathe_common::Error;
use lathe_common::auth::Role;
use lathe_common::reasons;
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::{AliasPath, ListQuery, ModelPath, ProjectPath, VersionPath};
use super::requests::{Addressed, Change, Listing, Target};
use super::{Reply, Services, created, ok};
use crate::auth::{Admin, Editor, ProjectAccess, Viewer};
use crate::error::ErrorBody;

// The REST shape of `pb::UpdateModelRequest`: `policies` present (even `[]`) replaces them,
// where the proto says so with `replace_policies`.
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
    pub policies: Option<Vec<pb::PromotionPolicy>>,
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

// The REST shape of `pb::EvaluateGatesResponse` is the proto's; these mirror it only because
// the contract's build.rs does not derive JSON for those messages yet.

/// Every promotion gate of a model, judged now for one version and the caller.
#[derive(Serialize, ToSchema)]
pub struct GateReport {
    /// One per stage with a gate, in stage order: the stages the policies name, and Production,
    /// which always has one (an admin, unless a policy for it names a role). A stage left out
    /// has no gate.
    pub gates: Vec<StageGate>,
}

/// The gate into one stage: the conditions of every policy for that stage, judged together.
#[derive(Serialize, ToSchema)]
pub struct StageGate {
    pub stage: pb::Stage,
    /// Every condition holds: a transition to this stage by this caller would pass the gate
    /// (moving a version also needs `editor`, whatever the gate).
    pub allowed: bool,
    pub conditions: Vec<ConditionResult>,
}

/// One condition of a gate, judged now.
#[derive(Serialize, ToSchema)]
pub struct ConditionResult {
    /// As the model's policies show it.
    pub condition: pb::GateCondition,
    pub passed: bool,
    /// Why, for a person.
    #[schema(example = "accuracy is 0.934, needs > 0.9")]
    pub reason: String,
    /// Stated by no policy: Production needs an admin unless a policy for it names a role.
    pub implied: bool,
}

impl TryFrom<pb::EvaluateGatesResponse> for GateReport {
    type Error = Error;

    fn try_from(answer: pb::EvaluateGatesResponse) -> Result<Self, Error> {
        let gates = answer
            .gates
            .into_iter()
            .map(|gate| {
                let stage = pb::Stage::try_from(gate.stage)
                    .map_err(|_| Error::internal(format!("the registry sent stage {}", gate.stage)))?;
                let conditions = gate
                    .conditions
                    .into_iter()
                    .map(|c| ConditionResult {
                        condition: c.condition.unwrap_or_default(),
                        passed: c.passed,
                        reason: c.reason,
                        implied: c.implied,
                    })
                    .collect();
                Ok(StageGate {
                    stage,
                    allowed: gate.allowed,
                    conditions,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(GateReport { gates })
    }
}

/// Registers a model (editor; admin when it sets promotion policies).
#[utoipa::path(
    tag = "models",
    params(ProjectPath),
    responses(
        (status = 201, body = pb::Model), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such project"), (status = 409, body = ErrorBody),
    ),
)]
#[post("")]
pub async fn create_model(
    access: ProjectAccess<Editor>,
    body: web::Json<pb::CreateModelRequest>,
    backends: Services,
) -> Reply {
    let mut request = body.into_inner();
    if !request.policies.is_empty() {
        access.claims.require_role(Role::Admin)?;
    }
    request.actor = access.actor();
    request.project = access.project;
    created(backends.models().create_model(request).await?)
}

/// Registered models of a project.
#[utoipa::path(
    tag = "models",
    params(ProjectPath, ListQuery),
    responses((status = 200, body = pb::ListModelsResponse), (status = 400, body = ErrorBody)),
)]
#[get("")]
pub async fn list_models(
    access: ProjectAccess<Viewer>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::ListModelsRequest {
        project: access.project,
        page_size,
        page_token,
    };
    ok(backends.models().list_models(request).await?)
}

/// One registered model with its policies, aliases and latest version per stage.
#[utoipa::path(
    tag = "models",
    params(ModelPath),
    responses((status = 200, body = pb::Model), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_model(target: Target<Viewer, ModelPath, pb::ModelRef>, backends: Services) -> Reply {
    ok(backends.models().get_model(target.request).await?)
}

/// Changes a model's description or tags (editor) or its promotion policies (admin).
#[utoipa::path(
    tag = "models",
    params(ModelPath),
    responses((status = 200, body = pb::Model), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[patch("/{name}")]
pub async fn update_model(
    access: ProjectAccess<Editor>,
    path: web::Path<ModelPath>,
    body: web::Json<UpdateModel>,
    backends: Services,
) -> Reply {
    let body = body.into_inner();
    if body.policies.is_some() {
        access.claims.require_role(Role::Admin)?;
    }
    let request = pb::UpdateModelRequest {
        actor: access.actor(),
        project: access.project,
        name: path.into_inner().name,
        description: body.description,
        set_tags: body.set_tags,
        delete_tags: body.delete_tags,
        replace_policies: body.policies.is_some(),
        policies: body.policies.unwrap_or_default(),
    };
    ok(backends.models().update_model(request).await?)
}

/// Deletes a model with all its versions and their artifacts (admin).
#[utoipa::path(
    tag = "models",
    params(ModelPath),
    responses((status = 204), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}")]
pub async fn delete_model(target: Target<Admin, ModelPath, pb::ModelRef>, backends: Services) -> Reply {
    backends.models().delete_model(target.request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers a new version of a model from a run's artifact (editor); the version keeps its
/// own copy of the artifact and a snapshot of the run's metrics.
#[utoipa::path(
    tag = "models",
    params(ModelPath),
    request_body = pb::CreateModelVersionRequest,
    responses(
        (status = 201, body = pb::ModelVersion), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such model, run or artifact"),
    ),
)]
#[post("/{name}/versions")]
pub async fn create_model_version(
    change: Change<ModelPath, pb::CreateModelVersionRequest>,
    backends: Services,
) -> Reply {
    created(backends.models().create_model_version(change.request).await?)
}

/// Versions of a model.
#[utoipa::path(
    tag = "models",
    params(ModelPath, ListQuery),
    responses(
        (status = 200, body = pb::ListModelVersionsResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
#[get("/{name}/versions")]
pub async fn list_model_versions(
    listing: Listing<ModelPath, pb::ListModelVersionsRequest>,
    backends: Services,
) -> Reply {
    ok(backends.models().list_model_versions(listing.request).await?)
}

/// One version of a model.
#[utoipa::path(
    tag = "models",
    params(VersionPath),
    responses((status = 200, body = pb::ModelVersion), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{name}/versions/{version}")]
pub async fn get_model_version(
    target: Target<Viewer, VersionPath, pb::ModelVersionRef>,
    backends: Services,
) -> Reply {
    ok(backends.models().get_model_version(target.request).await?)
}

/// Changes a version's description or tags (editor); its artifact and signature never change.
#[utoipa::path(
    tag = "models",
    params(VersionPath),
    request_body = pb::UpdateModelVersionRequest,
    responses((status = 200, body = pb::ModelVersion), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[patch("/{name}/versions/{version}")]
pub async fn update_model_version(
    change: Change<VersionPath, pb::UpdateModelVersionRequest>,
    backends: Services,
) -> Reply {
    ok(backends.models().update_model_version(change.request).await?)
}

/// Moves a version to another stage (editor), if the model's promotion gate for that stage
/// holds; the service applies its own rule for Production as well (admin).
#[utoipa::path(
    tag = "models",
    params(VersionPath),
    request_body = pb::TransitionStageRequest,
    responses(
        (status = 200, body = pb::ModelVersion), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "A gate condition does not hold; the message lists the unmet ones"),
    ),
)]
#[post("/{name}/versions/{version}/stage")]
pub async fn transition_stage(
    change: Change<VersionPath, pb::TransitionStageRequest>,
    backends: Services,
) -> Reply {
    ok(backends.models().transition_stage(change.request).await?)
}

/// Every promotion gate of the model judged now for this version and the caller, by the code
/// that decides a stage transition: which would pass or fail, and why. Changes nothing.
#[utoipa::path(
    tag = "models",
    params(VersionPath),
    responses((status = 200, body = GateReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{name}/versions/{version}/gates")]
pub async fn evaluate_gates(
    access: ProjectAccess<Viewer>,
    path: web::Path<VersionPath>,
    backends: Services,
) -> Reply {
    let (_, model, version) = path.into_inner().parts();
    let request = pb::EvaluateGatesRequest {
        actor: access.actor(),
        project: access.project,
        model,
        version,
    };
    let answer = backends.models().evaluate_gates(request).await?.into_inner();
    Ok(HttpResponse::Ok().json(GateReport::try_from(answer)?))
}

/// Points an alias at a version, moving it if it points elsewhere (editor).
#[utoipa::path(
    tag = "models",
    params(AliasPath),
    request_body = pb::SetAliasRequest,
    responses((status = 200, body = pb::ModelVersion), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[put("/{name}/aliases/{alias}")]
pub async fn set_alias(change: Change<AliasPath, pb::SetAliasRequest>, backends: Services) -> Reply {
    ok(backends.models().set_alias(change.request).await?)
}

/// Removes an alias (editor); an optional JSON body `{"reason": "…"}` goes to the audit log.
#[utoipa::path(
    tag = "models",
    params(AliasPath),
    request_body(content = Option<pb::DeleteAliasRequest>, description = "Optional"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}/aliases/{alias}")]
pub async fn delete_alias(
    access: ProjectAccess<Editor>,
    path: web::Path<AliasPath>,
    body: Bytes,
    backends: Services,
) -> Reply {
    let mut request = if body.iter().all(u8::is_ascii_whitespace) {
        pb::DeleteAliasRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Error::invalid(format!("invalid JSON body: {e}")).with_reason(reasons::INVALID_BODY)
        })?
    };
    request.address(path.into_inner(), access.actor());
    backends.models().delete_alias(request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The version an alias points at.
#[utoipa::path(
    tag = "models",
    params(AliasPath),
    responses((status = 200, body = pb::ModelVersion), (status = 404, body = ErrorBody)),
)]
#[get("/{name}/aliases/{alias}")]
pub async fn get_alias(target: Target<Viewer, AliasPath, pb::AliasRef>, backends: Services) -> Reply {
    ok(backends.models().get_version_by_alias(target.request).await?)
}

/// Every stage and alias move of a model: who, from what, to what, and why.
#[utoipa::path(
    tag = "models",
    params(ModelPath, ListQuery),
    responses((status = 200, body = pb::ListAuditEventsResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{name}/audit")]
pub async fn list_audit_events(
    listing: Listing<ModelPath, pb::ListAuditEventsRequest>,
    backends: Services,
) -> Reply {
    ok(backends.models().list_audit_events(listing.request).await?)
}

/// Model versions trained on a feature view, through a feature service, on a dataset, or by an
/// orchestrator run: exactly one query parameter.
#[utoipa::path(
    tag = "models",
    params(ProjectPath, LineageQuery),
    responses(
        (status = 200, body = pb::FindVersionsByLineageResponse),
        (status = 400, body = ErrorBody, description = "Not exactly one query parameter"),
    ),
)]
#[get("/lineage")]
pub async fn find_versions_by_lineage(
    access: ProjectAccess<Viewer>,
    query: web::Query<LineageQuery>,
    backends: Services,
) -> Reply {
    let query = query.into_inner();
    let request = pb::FindVersionsByLineageRequest {
        project: access.project,
        feature_view: query.feature_view.unwrap_or_default(),
        feature_service: query.feature_service.unwrap_or_default(),
        training_dataset: query.training_dataset.unwrap_or_default(),
        orchestrator_run: query.orchestrator_run.unwrap_or_default(),
    };
    ok(backends.models().find_versions_by_lineage(request).await?)
}
