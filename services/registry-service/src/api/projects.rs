//! Project CRUD: the tenancy unit that every other service checks against.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::db;
use lathe_common::projects::PROJECT_DATA_SERVICES;
use lathe_common::validate;
use lathe_common::{Error, Result};
use lathe_contract::registry::v1::registry_service_server::RegistryService;
use lathe_contract::registry::v1::{
    CreateProjectRequest, DeleteProjectRequest, DeleteProjectResponse, GetProjectRequest,
    ListProjectsRequest, ListProjectsResponse, Project, ProjectDataRequest, ProjectDataResponse,
    ProjectPurgedRequest, ProjectPurgedResponse, UpdateProjectRequest,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use tonic::{Request, Response, Status};

use crate::store::cleanup::CleanupSignal;
use crate::store::project::{self, not_found, tombstone};
use crate::store::project_data;

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;
const MAX_LABELS: usize = 64;

pub struct ProjectsApi {
    db: DatabaseConnection,
    cleanup: CleanupSignal,
}

/// The services still to purge a deleted project's data, by name.
async fn pending_purges<C: ConnectionTrait>(db: &C, name: &str) -> Result<Vec<String>> {
    Ok(tombstone::Entity::find()
        .filter(tombstone::Column::Project.eq(name))
        .order_by_asc(tombstone::Column::Service)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.service)
        .collect())
}

impl ProjectsApi {
    pub fn new(db: DatabaseConnection, cleanup: CleanupSignal) -> Self {
        ProjectsApi { db, cleanup }
    }

    /// Deletes the project (with all it holds here when `cascade`, else only when it holds
    /// nothing) and records the services still to purge it; the answer lists them, with the
    /// counts of what was deleted. A name already deleted but not yet purged everywhere
    /// answers its pending services again, so the caller can finish the purge.
    async fn delete(&self, name: &str, cascade: bool) -> Result<ProjectDataResponse> {
        let txn = db::begin_write(&self.db).await?;
        // Locked: creations in the project (which hold it FOR SHARE) finish before, or fail after.
        let found = project::Entity::find_by_id(name.to_owned())
            .lock_exclusive()
            .one(&txn)
            .await?;
        if found.is_none() {
            let pending_services = pending_purges(&txn, name).await?;
            if pending_services.is_empty() {
                return Err(not_found(name));
            }
            return Ok(ProjectDataResponse {
                counts: HashMap::new(),
                pending_services,
            });
        }
        let counts = project_data::count(&txn, name).await?;
        if !cascade && !counts.is_empty() {
            return Err(lathe_common::projects::not_empty(name, &counts));
        }
        if cascade {
            project_data::delete(&txn, name).await?;
        }
        project::Entity::delete_by_id(name.to_owned()).exec(&txn).await?;
        let now = Utc::now();
        tombstone::Entity::insert_many(PROJECT_DATA_SERVICES.map(|service| tombstone::ActiveModel {
            project: Set(name.to_owned()),
            service: Set(service.to_owned()),
            create_time: Set(now),
        }))
        .on_conflict(
            OnConflict::columns([tombstone::Column::Project, tombstone::Column::Service])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        if cascade {
            self.cleanup.wake();
        }
        tracing::info!(project = %name, cascade, ?counts, "project deleted");
        Ok(ProjectDataResponse {
            counts: counts.into_iter().collect(),
            pending_services: PROJECT_DATA_SERVICES.map(str::to_owned).to_vec(),
        })
    }

    async fn find(&self, name: &str) -> Result<project::Model> {
        project::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| not_found(name))
    }
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
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        let pending = pending_purges(&txn, &request.name).await?;
        if !pending.is_empty() {
            return Err(Error::already_exists(
                "project_being_deleted",
                format!(
                    "project '{}' is still being deleted: the data it had in {} is not removed yet; \
                     repeat DELETE /api/v1/projects/{}?cascade=true to finish, then create it",
                    request.name,
                    pending.join(", "),
                    request.name
                ),
            )
            .into());
        }
        let inserted = match model.insert(&txn).await {
            Ok(model) => txn.commit().await.map(|()| model),
            Err(err) => Err(err),
        };
        match inserted {
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
        self.delete(&name, false).await?;
        Ok(Response::new(DeleteProjectResponse {}))
    }

    async fn project_data(
        &self,
        request: Request<ProjectDataRequest>,
    ) -> Result<Response<ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        if request.delete {
            return Ok(Response::new(self.delete(&request.project, true).await?));
        }
        let counts = match project::require(&self.db, &request.project).await {
            Ok(()) => project_data::count(&self.db, &request.project).await?,
            Err(err) => {
                let pending_services = pending_purges(&self.db, &request.project).await?;
                if pending_services.is_empty() {
                    return Err(err.into());
                }
                return Ok(Response::new(ProjectDataResponse {
                    counts: HashMap::new(),
                    pending_services,
                }));
            }
        };
        Ok(Response::new(ProjectDataResponse {
            counts: counts.into_iter().collect(),
            pending_services: Vec::new(),
        }))
    }

    async fn project_purged(
        &self,
        request: Request<ProjectPurgedRequest>,
    ) -> Result<Response<ProjectPurgedResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        if !request.services.is_empty() {
            tombstone::Entity::delete_many()
                .filter(tombstone::Column::Project.eq(&request.project))
                .filter(tombstone::Column::Service.is_in(request.services.clone()))
                .exec(&self.db)
                .await
                .map_err(Error::from)?;
        }
        let pending_services = pending_purges(&self.db, &request.project).await?;
        if pending_services.is_empty() {
            tracing::info!(project = %request.project, "project purged everywhere");
        }
        Ok(Response::new(ProjectPurgedResponse { pending_services }))
    }
}
