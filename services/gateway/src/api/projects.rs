//! Project CRUD, stored by the registry-service. Reads need `viewer` and the project in the
//! token; writes need `admin`.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use lathe_common::auth::Role;
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rfc3339;
use crate::auth::Authenticated;
use crate::backends::Backends;
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct Project {
    pub name: String,
    pub description: String,
    pub labels: HashMap<String, String>,
    pub created_by: String,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
}

impl From<pb::Project> for Project {
    fn from(p: pb::Project) -> Self {
        Project {
            name: p.name,
            description: p.description,
            labels: p.labels,
            created_by: p.created_by,
            create_time: rfc3339(p.create_time),
            update_time: rfc3339(p.update_time),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// 1 to 63 lowercase letters, digits or '-'.
    #[schema(example = "churn")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub description: Option<String>,
    /// Replaces all labels when present.
    pub labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// Projects the token may see.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = ProjectList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
)]
#[get("/api/v1/projects")]
pub async fn list_projects(
    Authenticated(claims): Authenticated,
    query: web::Query<ListQuery>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    let query = query.into_inner();
    let only = if claims.all_projects() {
        Vec::new()
    } else {
        claims.projects.clone()
    };
    if !claims.all_projects() && only.is_empty() {
        return Ok(HttpResponse::Ok().json(ProjectList {
            projects: Vec::new(),
            next_page_token: String::new(),
        }));
    }
    let request = pb::ListProjectsRequest {
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
        only,
    };
    let response = backends
        .registry
        .clone()
        .list_projects(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(ProjectList {
        projects: response.projects.into_iter().map(Project::from).collect(),
        next_page_token: response.next_page_token,
    }))
}

/// Creates a project (admin).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, body = Project),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
    ),
)]
#[post("/api/v1/projects")]
pub async fn create_project(
    Authenticated(claims): Authenticated,
    body: web::Json<CreateProject>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Admin)?;
    let body = body.into_inner();
    claims.require_project(&body.name)?;
    let request = pb::CreateProjectRequest {
        name: body.name,
        description: body.description,
        labels: body.labels,
        created_by: claims.sub.clone(),
    };
    let project = backends
        .registry
        .clone()
        .create_project(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Created().json(Project::from(project)))
}

/// One project.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Project name")),
    responses((status = 200, body = Project), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[get("/api/v1/projects/{name}")]
pub async fn get_project(
    Authenticated(claims): Authenticated,
    name: web::Path<String>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Viewer)?;
    claims.require_project(&name)?;
    let project = backends
        .registry
        .clone()
        .get_project(pb::GetProjectRequest {
            name: name.into_inner(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(Project::from(project.into_inner())))
}

/// Changes a project's description or labels (admin).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Project name")),
    request_body = UpdateProject,
    responses(
        (status = 200, body = Project), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
    ),
)]
#[patch("/api/v1/projects/{name}")]
pub async fn update_project(
    Authenticated(claims): Authenticated,
    name: web::Path<String>,
    body: web::Json<UpdateProject>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Admin)?;
    claims.require_project(&name)?;
    let body = body.into_inner();
    let request = pb::UpdateProjectRequest {
        name: name.into_inner(),
        description: body.description,
        replace_labels: body.labels.is_some(),
        labels: body.labels.unwrap_or_default(),
    };
    let project = backends
        .registry
        .clone()
        .update_project(request)
        .await?
        .into_inner();
    Ok(HttpResponse::Ok().json(Project::from(project)))
}

/// Deletes a project (admin).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Project name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
)]
#[delete("/api/v1/projects/{name}")]
pub async fn delete_project(
    Authenticated(claims): Authenticated,
    name: web::Path<String>,
    backends: web::Data<Backends>,
) -> Result<HttpResponse, ApiError> {
    claims.require_role(Role::Admin)?;
    claims.require_project(&name)?;
    backends
        .registry
        .clone()
        .delete_project(pb::DeleteProjectRequest {
            name: name.into_inner(),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
