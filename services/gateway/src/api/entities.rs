//! Entity definitions of a project, stored by the feature-service (which checks the project
//! with the registry-service). Reads need `viewer`, writes `editor`, both the project in the token.

use actix_web::{HttpResponse, delete, get, put, web};
use lathe_contract::features::v1 as pb;

use super::params::{EntityPath, ListQuery, ProjectPath};
use super::requests::{Change, Target};
use super::{Reply, Services, ok};
use crate::auth::{Editor, ProjectAccess, Viewer};
use crate::error::ErrorBody;

/// Creates or replaces an entity (editor). Applying the same definition again changes nothing.
#[utoipa::path(
    tag = "features",
    params(EntityPath),
    request_body = pb::ApplyEntityRequest,
    responses(
        (status = 200, body = pb::Entity), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such project"),
        (status = 412, body = ErrorBody, description = "The change would break stored data"),
    ),
)]
#[put("/{name}")]
pub async fn apply_entity(change: Change<EntityPath, pb::ApplyEntityRequest>, backends: Services) -> Reply {
    ok(backends.features().apply_entity(change.request).await?)
}

/// One entity.
#[utoipa::path(
    tag = "features",
    params(EntityPath),
    responses((status = 200, body = pb::Entity), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_entity(
    target: Target<Viewer, EntityPath, pb::GetEntityRequest>,
    backends: Services,
) -> Reply {
    ok(backends.features().get_entity(target.request).await?)
}

/// The entities of a project, one page at a time by name.
#[utoipa::path(
    tag = "features",
    params(ProjectPath, ListQuery),
    responses((status = 200, body = pb::ListEntitiesResponse), (status = 400, body = ErrorBody)),
)]
#[get("")]
pub async fn list_entities(
    access: ProjectAccess<Viewer>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::ListEntitiesRequest {
        project: access.project,
        page_size,
        page_token,
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
    target: Target<Editor, EntityPath, pb::DeleteEntityRequest>,
    backends: Services,
) -> Reply {
    backends.features().delete_entity(target.request).await?;
    Ok(HttpResponse::NoContent().finish())
}
