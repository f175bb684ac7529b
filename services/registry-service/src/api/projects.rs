//! `RegistryService`: projects.

use lathe_common::access::{self, Caller};
use lathe_common::auth::Role;
use lathe_contract::registry::v1::registry_service_server::RegistryService;
use lathe_contract::registry::v1::{
    CreateProjectRequest, DeleteProjectRequest, DeleteProjectResponse, GetProjectRequest,
    ListProjectsRequest, ListProjectsResponse, Project, ProjectDataRequest, ProjectDataResponse,
    ProjectPurgedRequest, ProjectPurgedResponse, UpdateProjectRequest,
};
use tonic::{Request, Response, Status};

use crate::projects::Projects;

pub struct ProjectsApi {
    projects: Projects,
}

impl ProjectsApi {
    pub fn new(projects: Projects) -> Self {
        ProjectsApi { projects }
    }
}

/// A token scoped to some projects lists those of them the request asks for, at most; `None`
/// when that leaves none.
fn within_grant(caller: &Caller, mut request: ListProjectsRequest) -> Option<ListProjectsRequest> {
    if !caller.claims().all_projects() {
        let granted = &caller.claims().projects;
        request.only = if request.only.is_empty() {
            granted.clone()
        } else {
            request.only.into_iter().filter(|p| granted.contains(p)).collect()
        };
        if request.only.is_empty() {
            return None;
        }
    }
    Some(request)
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
        Ok(Response::new(self.projects.create(request).await?))
    }

    async fn get_project(&self, request: Request<GetProjectRequest>) -> Result<Response<Project>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().name)?;
        Ok(Response::new(
            self.projects.get(&request.into_inner().name).await?,
        ))
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        let caller = access::require_role(&request, Role::Viewer)?;
        let Some(request) = within_grant(&caller, request.into_inner()) else {
            return Ok(Response::new(ListProjectsResponse::default()));
        };
        Ok(Response::new(self.projects.list(request).await?))
    }

    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().name)?;
        Ok(Response::new(self.projects.update(request.into_inner()).await?))
    }

    async fn delete_project(
        &self,
        request: Request<DeleteProjectRequest>,
    ) -> Result<Response<DeleteProjectResponse>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().name)?;
        self.projects.delete(&request.into_inner().name).await?;
        Ok(Response::new(DeleteProjectResponse {}))
    }

    async fn project_data(
        &self,
        request: Request<ProjectDataRequest>,
    ) -> Result<Response<ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        Ok(Response::new(self.projects.data(request.into_inner()).await?))
    }

    async fn project_purged(
        &self,
        request: Request<ProjectPurgedRequest>,
    ) -> Result<Response<ProjectPurgedResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        Ok(Response::new(self.projects.purged(request.into_inner()).await?))
    }
}
