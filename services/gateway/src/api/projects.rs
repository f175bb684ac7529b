//! Project CRUD, stored by the registry-service. Reads need `viewer` and the project in the
//! token; writes need `admin`.
//!
//! Deleting a project spans every service: the registry deletes the project (with its own
//! data, when cascading) and keeps its name as a tombstone listing the services still to purge
//! their data of it; the gateway then has each of them purge it (`ProjectData`) and tells the
//! registry. A service that is down leaves its name on the tombstone: the name cannot be
//! created again until a repeated delete (or a create, which tries first) finishes the purge.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, delete, get, patch, post, web};
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode};
use lathe_contract::registry::v1 as pb;
use lathe_contract::{
    features::v1 as features, monitor::v1 as monitor, orchestrator::v1 as orchestrator,
    serving::v1 as serving,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::params::{ListQuery, ProjectName};
use super::{Reply, Services, ok};
use crate::auth::{Access, Admin, Viewer};
use crate::backends::Backends;
use crate::error::ErrorBody;

// The REST shape of `pb::UpdateProjectRequest`: `labels` present (even `{}`) replaces them,
// where the proto says so with `replace_labels`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub description: Option<String>,
    /// Replaces all labels when present.
    pub labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Delete the project with everything it holds in every service: experiments, runs and
    /// their artifacts, models and their versions, feature definitions and online rows,
    /// pipelines, monitors. Without it a project that holds anything is not deleted (409).
    pub cascade: Option<bool>,
}

/// Projects the token may see.
#[utoipa::path(
    tag = "projects",
    params(ListQuery),
    responses((status = 200, body = pb::ListProjectsResponse), (status = 400, body = ErrorBody)),
)]
#[get("/api/v1/projects")]
pub async fn list_projects(
    Access { claims, .. }: Access<Viewer>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let only = if claims.all_projects() {
        Vec::new()
    } else {
        claims.projects.clone()
    };
    if !claims.all_projects() && only.is_empty() {
        return Ok(HttpResponse::Ok().json(pb::ListProjectsResponse::default()));
    }
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::ListProjectsRequest {
        page_size,
        page_token,
        only,
    };
    ok(backends.registry().list_projects(request).await?)
}

/// Creates a project (admin).
#[utoipa::path(
    tag = "projects",
    responses(
        (status = 201, body = pb::Project),
        (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
    ),
)]
#[post("/api/v1/projects")]
pub async fn create_project(
    Access { claims, .. }: Access<Admin>,
    body: web::Json<pb::CreateProjectRequest>,
    backends: Services,
) -> Reply {
    claims.require_project(&body.name)?;
    let request = pb::CreateProjectRequest {
        created_by: claims.sub.clone(),
        ..body.into_inner()
    };
    let created = backends
        .registry()
        .create_project(request.clone())
        .await
        .map_err(Error::from);
    let project = match created {
        Err(err) if err.reason == reasons::PROJECT_BEING_DELETED.name => {
            // The name's previous project is not purged everywhere yet: finish that first.
            let pending = backends
                .registry()
                .project_purged(pb::ProjectPurgedRequest {
                    project: request.name.clone(),
                    services: Vec::new(),
                })
                .await?
                .into_inner()
                .pending_services;
            if purge(&backends, &request.name, pending).await.is_err() {
                return Err(err.into());
            }
            backends.registry().create_project(request).await?
        }
        created => created?,
    };
    Ok(HttpResponse::Created().json(project.into_inner()))
}

/// One project.
#[utoipa::path(
    tag = "projects",
    params(ProjectName),
    responses((status = 200, body = pb::Project), (status = 404, body = ErrorBody)),
)]
#[get("/api/v1/projects/{name}")]
pub async fn get_project(
    Access { claims, .. }: Access<Viewer>,
    name: web::Path<ProjectName>,
    backends: Services,
) -> Reply {
    claims.require_project(&name.name)?;
    let request = pb::GetProjectRequest {
        name: name.into_inner().name,
    };
    ok(backends.registry().get_project(request).await?)
}

/// Changes a project's description or labels (admin).
#[utoipa::path(
    tag = "projects",
    params(ProjectName),
    responses(
        (status = 200, body = pb::Project), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
    ),
)]
#[patch("/api/v1/projects/{name}")]
pub async fn update_project(
    Access { claims, .. }: Access<Admin>,
    name: web::Path<ProjectName>,
    body: web::Json<UpdateProject>,
    backends: Services,
) -> Reply {
    claims.require_project(&name.name)?;
    let body = body.into_inner();
    let request = pb::UpdateProjectRequest {
        name: name.into_inner().name,
        description: body.description,
        replace_labels: body.labels.is_some(),
        labels: body.labels.unwrap_or_default(),
    };
    ok(backends.registry().update_project(request).await?)
}

/// Deletes a project (admin). A project that holds anything (experiments, runs, models,
/// feature definitions, pipelines, monitors) is only deleted with `?cascade=true`, which
/// deletes all of it in every service (artifacts and model files are removed from the object
/// store shortly after); without it the answer is 409 `project_not_empty`, saying what the
/// project holds. If a service is unreachable during a cascade the answer is 503
/// `project_purge_incomplete`: the project is gone, but its name cannot be created again
/// until the same delete is repeated and succeeds.
#[utoipa::path(
    tag = "projects",
    params(ProjectName, DeleteQuery),
    responses(
        (status = 204),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
)]
#[delete("/api/v1/projects/{name}")]
pub async fn delete_project(
    Access { claims, .. }: Access<Admin>,
    name: web::Path<ProjectName>,
    query: web::Query<DeleteQuery>,
    backends: Services,
) -> Reply {
    claims.require_project(&name.name)?;
    let name = name.into_inner().name;
    let mut registry = backends.registry();
    let request = |delete| pb::ProjectDataRequest {
        project: name.clone(),
        delete,
    };
    let pending = if query.cascade.unwrap_or(false) {
        registry
            .project_data(request(true))
            .await?
            .into_inner()
            .pending_services
    } else {
        let held = registry.project_data(request(false)).await?.into_inner();
        if held.pending_services.is_empty() {
            let mut counts: BTreeMap<String, u64> = held.counts.into_iter().collect();
            for service in lathe_common::projects::PROJECT_DATA_SERVICES {
                counts.extend(project_data(&backends, service, &name, false).await?);
            }
            if counts.values().any(|n| *n > 0) {
                return Err(lathe_common::projects::not_empty(&name, &counts).into());
            }
            // Refused by the registry if experiments, runs or models appeared since.
            registry
                .delete_project(pb::DeleteProjectRequest { name: name.clone() })
                .await?;
            lathe_common::projects::PROJECT_DATA_SERVICES
                .map(str::to_owned)
                .to_vec()
        } else {
            // Deleted before, not yet purged everywhere: finish that.
            held.pending_services
        }
    };
    purge(&backends, &name, pending).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A service's `ProjectData`: what the project holds there (or held, when `delete`).
async fn project_data(
    backends: &Backends,
    service: &str,
    project: &str,
    delete: bool,
) -> Result<HashMap<String, u64>, Error> {
    let counts = match service {
        "features" => {
            let request = features::ProjectDataRequest {
                project: project.to_owned(),
                delete,
            };
            let mut client = backends.features();
            client.project_data(request).await?.into_inner().counts
        }
        "orchestrator" => {
            let request = orchestrator::ProjectDataRequest {
                project: project.to_owned(),
                delete,
            };
            let mut client = backends.orchestrator.clone();
            client.project_data(request).await?.into_inner().counts
        }
        "monitor" => {
            let request = monitor::ProjectDataRequest {
                project: project.to_owned(),
                delete,
            };
            let mut client = backends.monitor.clone();
            client.project_data(request).await?.into_inner().counts
        }
        "serving" => {
            let request = serving::ProjectDataRequest {
                project: project.to_owned(),
                delete,
            };
            let mut client = backends.serving();
            client.project_data(request).await?.into_inner().counts
        }
        other => {
            return Err(Error::internal(format_args!(
                "the registry names an unknown service '{other}' to purge project '{project}'"
            )));
        }
    };
    Ok(counts)
}

/// Has each of `services` delete the (deleted) project's data and tells the registry which
/// did; fails with 503 `project_purge_incomplete` naming those that could not.
async fn purge(backends: &Backends, project: &str, services: Vec<String>) -> Result<(), Error> {
    let mut purged = Vec::new();
    let mut failed = Vec::new();
    for service in services {
        match project_data(backends, &service, project, true).await {
            Ok(_) => purged.push(service),
            Err(err) => {
                tracing::warn!(project, service = %service, error = %err, "project purge failed; the name stays reserved");
                failed.push(format!("{service} ({})", err.public_message()));
            }
        }
    }
    if !purged.is_empty() {
        backends
            .registry()
            .project_purged(pb::ProjectPurgedRequest {
                project: project.to_owned(),
                services: purged,
            })
            .await?;
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::Unavailable,
        format!(
            "project '{project}' is deleted, but its data in {} could not be removed yet; repeat \
             DELETE /api/v1/projects/{project}?cascade=true to finish (until then the name cannot be created again)",
            failed.join(", ")
        ),
    )
    .with_reason(reasons::PROJECT_PURGE_INCOMPLETE))
}
