//! Entity definitions of a project, stored by the feature-service (which checks the project
//! with the registry-service). Reads need `viewer`, writes `editor`, both the project in the token.

use actix_web::{HttpResponse, delete, get, put, web};
use lathe_contract::features::v1 as pb;

use super::params::{EntityPath, ProjectPath};
use super::{Reply, Services, ok};
use crate::auth::{Editor, ProjectAccess, Viewer};
use crate::error::ErrorBody;

/// Creates or replaces an entity (editor). Applying the same definition again changes nothing.
#[utoipa::path(
    tag = "features",
    params(EntityPath),
    responses(
        (status = 200, body = pb::Entity), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such project"),
        (status = 412, body = ErrorBody, description = "The change would break stored data"),
    ),
)]
#[put("/{name}")]
pub async fn apply_entity(
    _access: ProjectAccess<Editor>,
    path: web::Path<EntityPath>,
    body: web::Json<pb::ApplyEntityRequest>,
    backends: Services,
) -> Reply {
    let EntityPath { project, name } = path.into_inner();
    let request = pb::ApplyEntityRequest {
        project,
        name,
        ..body.into_inner()
    };
    ok(backends.features().apply_entity(request).await?)
}

/// One entity.
#[utoipa::path(
    tag = "features",
    params(EntityPath),
    responses((status = 200, body = pb::Entity), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_entity(
    _access: ProjectAccess<Viewer>,
    path: web::Path<EntityPath>,
    backends: Services,
) -> Reply {
    let EntityPath { project, name } = path.into_inner();
    ok(backends
        .features()
        .get_entity(pb::GetEntityRequest { project, name })
        .await?)
}

/// Every entity of a project.
#[utoipa::path(
    tag = "features",
    params(ProjectPath),
    responses((status = 200, body = pb::ListEntitiesResponse)),
)]
#[get("")]
pub async fn list_entities(access: ProjectAccess<Viewer>, backends: Services) -> Reply {
    let request = pb::ListEntitiesRequest {
        project: access.project,
    };
    ok(backends.features().list_entities(request).await?)
}

/// Deletes an entity (editor).
#[utoipa::path(
    tag = "features",
    params(EntityPath),
    responses((status = 204), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}")]
pub async fn delete_entity(
    _access: ProjectAccess<Editor>,
    path: web::Path<EntityPath>,
    backends: Services,
) -> Reply {
    let EntityPath { project, name } = path.into_inner();
    backends
        .features()
        .delete_entity(pb::DeleteEntityRequest { project, name })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
