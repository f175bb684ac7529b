//! Project CRUD: the tenancy unit that every other service checks against.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::validate;
use lathe_common::{Error, Result};
use lathe_contract::registry::v1::registry_service_server::RegistryService;
use lathe_contract::registry::v1::{
    CreateProjectRequest, DeleteProjectRequest, DeleteProjectResponse, GetProjectRequest,
    ListProjectsRequest, ListProjectsResponse, Project, UpdateProjectRequest,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use tonic::{Request, Response, Status};

use crate::store::project;

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;
const MAX_LABELS: usize = 64;

pub struct ProjectsApi {
    db: DatabaseConnection,
}

impl ProjectsApi {
    pub fn new(db: DatabaseConnection) -> Self {
        ProjectsApi { db }
    }

    async fn find(&self, name: &str) -> Result<project::Model> {
        project::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("project_not_found", format!("project '{name}' does not exist")))
    }
}

fn not_found(name: &str) -> Error {
    Error::not_found("project_not_found", format!("project '{name}' does not exist"))
}

fn validate_labels(labels: &HashMap<String, String>) -> Result<()> {
    if labels.len() > MAX_LABELS {
        return Err(Error::invalid(format!(
            "labels: at most {MAX_LABELS} labels are allowed"
        )));
    }
    for (key, value) in labels {
        validate::identifier("labels key", key)?;
        if value.len() > 256 {
            return Err(Error::invalid(format!(
                "labels.{key}: values are at most 256 bytes"
            )));
        }
    }
    Ok(())
}

fn labels_json(labels: &HashMap<String, String>) -> serde_json::Value {
    let sorted: BTreeMap<&String, &String> = labels.iter().collect();
    serde_json::to_value(sorted).unwrap_or_default()
}

fn to_proto(model: project::Model) -> Project {
    let labels: HashMap<String, String> = serde_json::from_value(model.labels).unwrap_or_default();
    Project {
        name: model.name,
        description: model.description,
        labels,
        created_by: model.created_by,
        create_time: Some(validate::timestamp(model.create_time)),
        update_time: Some(validate::timestamp(model.update_time)),
    }
}

#[tonic::async_trait]
impl RegistryService for ProjectsApi {
    async fn create_project(
        &self,
        request: Request<CreateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        let caller = access::require(&request, Role::Admin, &request.get_ref().name)?;
        let mut request = request.into_inner();
        request.created_by = caller.subject().to_owned();
        validate::project_name("name", &request.name)?;
        validate_labels(&request.labels)?;
        let now = Utc::now();
        let model = project::ActiveModel {
            name: Set(request.name.clone()),
            description: Set(request.description),
            labels: Set(labels_json(&request.labels)),
            created_by: Set(request.created_by),
            create_time: Set(now),
            update_time: Set(now),
        };
        match model.insert(&self.db).await {
            Ok(model) => {
                tracing::info!(project = %model.name, "project created");
                Ok(Response::new(to_proto(model)))
            }
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(Error::already_exists(
                    "project_already_exists",
                    format!("project '{}' already exists", request.name),
                )
                .into())
            }
            Err(err) => Err(Error::from(err).into()),
        }
    }

    async fn get_project(&self, request: Request<GetProjectRequest>) -> Result<Response<Project>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().name)?;
        let name = request.into_inner().name;
        validate::project_name("name", &name)?;
        Ok(Response::new(to_proto(self.find(&name).await?)))
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        let caller = access::require_role(&request, Role::Viewer)?;
        let mut request = request.into_inner();
        // A token scoped to some projects lists those of them the request asks for, at most.
        if !caller.claims().all_projects() {
            let granted = &caller.claims().projects;
            request.only = if request.only.is_empty() {
                granted.clone()
            } else {
                request.only.into_iter().filter(|p| granted.contains(p)).collect()
            };
            if request.only.is_empty() {
                return Ok(Response::new(ListProjectsResponse::default()));
            }
        }
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(Error::invalid(format!("page_size must be at most {MAX_PAGE_SIZE}")).into());
            }
            n => n,
        };
        let mut query = project::Entity::find().order_by_asc(project::Column::Name);
        // The page token is the last name of the previous page: stable under inserts.
        if !request.page_token.is_empty() {
            query = query.filter(project::Column::Name.gt(request.page_token));
        }
        if !request.only.is_empty() {
            query = query.filter(project::Column::Name.is_in(request.only));
        }
        let mut rows = query
            .limit(u64::from(page_size) + 1)
            .all(&self.db)
            .await
            .map_err(Error::from)?;
        let next_page_token = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last().map(|p| p.name.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListProjectsResponse {
            projects: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().name)?;
        let request = request.into_inner();
        validate::project_name("name", &request.name)?;
        validate_labels(&request.labels)?;
        let mut model = self.find(&request.name).await?.into_active_model();
        if let Some(description) = request.description {
            model.description = Set(description);
        }
        if request.replace_labels {
            model.labels = Set(labels_json(&request.labels));
        }
        model.update_time = Set(Utc::now());
        let model = model.update(&self.db).await.map_err(Error::from)?;
        Ok(Response::new(to_proto(model)))
    }

    async fn delete_project(
        &self,
        request: Request<DeleteProjectRequest>,
    ) -> Result<Response<DeleteProjectResponse>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().name)?;
        let name = request.into_inner().name;
        validate::project_name("name", &name)?;
        let result = project::Entity::delete_by_id(name.clone())
            .exec(&self.db)
            .await
            .map_err(Error::from)?;
        if result.rows_affected == 0 {
            return Err(not_found(&name).into());
        }
        tracing::info!(project = %name, "project deleted");
        Ok(Response::new(DeleteProjectResponse {}))
    }
}
