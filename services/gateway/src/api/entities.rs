//! Entity definitions of a project, stored by the feature-service (which checks the project
//! with the registry-service). Reads need `viewer`, writes `editor`, both the project in the token.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use lathe_common::Error;
use lathe_common::auth::Role;
use lathe_contract::features::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rfc3339;
use crate::auth::Authenticated;
use crate::backends::Backends;
use crate::error::{ApiError, ErrorBody};

/// Value types of join keys and features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    Int32,
    Int64,
    Float32,
    Float64,
    Bool,
    String,
    Bytes,
    Timestamp,
}

impl From<ValueType> for pb::ValueType {
    fn from(t: ValueType) -> Self {
        match t {
            ValueType::Int32 => pb::ValueType::Int32,
            ValueType::Int64 => pb::ValueType::Int64,
            ValueType::Float32 => pb::ValueType::Float32,
            ValueType::Float64 => pb::ValueType::Float64,
            ValueType::Bool => pb::ValueType::Bool,
            ValueType::String => pb::ValueType::String,
            ValueType::Bytes => pb::ValueType::Bytes,
            ValueType::Timestamp => pb::ValueType::Timestamp,
        }
    }
}

impl TryFrom<i32> for ValueType {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self, Error> {
        match pb::ValueType::try_from(value) {
            Ok(pb::ValueType::Int32) => Ok(ValueType::Int32),
            Ok(pb::ValueType::Int64) => Ok(ValueType::Int64),
            Ok(pb::ValueType::Float32) => Ok(ValueType::Float32),
            Ok(pb::ValueType::Float64) => Ok(ValueType::Float64),
            Ok(pb::ValueType::Bool) => Ok(ValueType::Bool),
            Ok(pb::ValueType::String) => Ok(ValueType::String),
            Ok(pb::ValueType::Bytes) => Ok(ValueType::Bytes),
            Ok(pb::ValueType::Timestamp) => Ok(ValueType::Timestamp),
            Ok(pb::ValueType::Unspecified) | Err(_) => Err(Error::internal(format_args!(
                "stored entity has value type {value}"
            ))),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinKey {
    #[schema(example = "driver_id")]
    pub name: String,
    pub value_type: ValueType,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyEntity {
    pub join_keys: Vec<JoinKey>,
    #[serde(default)]
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct Entity {
    pub project: String,
    pub name: String,
    pub join_keys: Vec<JoinKey>,
    pub description: String,
    /// Goes up by one on every applied change.
    pub version: u64,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
}

impl TryFrom<pb::Entity> for Entity {
    type Error = Error;

    fn try_from(e: pb::Entity) -> Result<Self, Error> {
        let join_keys = e
            .join_keys
            .into_iter()
            .map(|k| {
                Ok(JoinKey {
                    name: k.name,
                    value_type: ValueType::try_from(k.value_type)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Entity {
            project: e.project,
            name: e.name,
            join_keys,
            description: e.description,
            version: e.version,
            create_time: rfc3339(e.create_time),
            update_time: rfc3339(e.update_time),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct EntityList {
    pub entities: Vec<Entity>,
}

/// Creates or replaces an entity (editor). Applying the same definition again changes nothing.
#[utoipa::path(
    path = "/api/v1/projects/{project}/entities/{name}",
    tag = "features",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Entity name")),
    request_body = ApplyEntity,
    responses(
        (status = 200, body = Entity), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such project"),
        (status = 412, body = ErrorBody, description = "The change would break stored data"),
    ),
)]
#[put("/{name}")]
pub async fn apply_entity(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<ApplyEntity>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, name) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    let body = body.into_inner();
    let request = pb::ApplyEntityRequest {
        project,
        name,
        join_keys: body
            .join_keys
            .into_iter()
            .map(|k| pb::JoinKey {
                name: k.name,
                value_type: pb::ValueType::from(k.value_type) as i32,
            })
            .collect(),
        description: body.description,
    };
    let entity = backends
        .features
        .clone()
        .apply_entity(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Entity::try_from(entity)?))
}

/// One entity.
#[utoipa::path(
    path = "/api/v1/projects/{project}/entities/{name}",
    tag = "features",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Entity name")),
    responses((status = 200, body = Entity), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_entity(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, name) = path.into_inner();
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let entity = backends
        .features
        .clone()
        .get_entity(pb::GetEntityRequest { project, name })
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Entity::try_from(entity)?))
}

/// Every entity of a project.
#[utoipa::path(
    path = "/api/v1/projects/{project}/entities",
    tag = "features",
    security(("bearer" = [])),
    params(("project" = String, Path)),
    responses((status = 200, body = EntityList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
)]
#[get("")]
pub async fn list_entities(
    Authenticated(claims): Authenticated,
    project: web::Path<String>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    claims.require_project(&project)?;
    let request = pb::ListEntitiesRequest {
        project: project.into_inner(),
    };
    let response = backends
        .features
        .clone()
        .list_entities(request)
        .await?
        .into_inner();
    let entities = response
        .entities
        .into_iter()
        .map(Entity::try_from)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(EntityList { entities }))
}

/// Deletes an entity (editor).
#[utoipa::path(
    path = "/api/v1/projects/{project}/entities/{name}",
    tag = "features",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path, description = "Entity name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}")]
pub async fn delete_entity(
    Authenticated(claims): Authenticated,
    path: web::Path<(String, String)>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    let (project, name) = path.into_inner();
    claims.require_role(Role::Editor)?;
    claims.require_project(&project)?;
    backends
        .features
        .clone()
        .delete_entity(pb::DeleteEntityRequest { project, name })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
