//! The serving service's gRPC API: deployments behind access checks, and predictions.

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::projects::ProjectCheck;
use lathe_contract::serving::v1 as pb;
use lathe_contract::serving::v1::serving_service_server::ServingService;
use tonic::{Request, Response, Status};

use crate::batch::BatchScorer;
use crate::predict::Predictor;

pub struct ServingApi {
    predictor: Predictor,
    batch: BatchScorer,
    projects: ProjectCheck,
}

impl ServingApi {
    pub fn new(predictor: Predictor, batch: BatchScorer, projects: ProjectCheck) -> ServingApi {
        ServingApi {
            predictor,
            batch,
            projects,
        }
    }
}

#[tonic::async_trait]
impl ServingService for ServingApi {
    async fn deploy(&self, request: Request<pb::DeployRequest>) -> Result<Response<pb::Deployment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.projects.require(&request.project).await?;
        Ok(Response::new(self.predictor.deployments.deploy(request).await?))
    }

    async fn get_deployment(
        &self,
        request: Request<pb::DeploymentRef>,
    ) -> Result<Response<pb::Deployment>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let pb::DeploymentRef { project, name } = request.into_inner();
        let found = self.predictor.deployments.get(&project, &name).await;
        Ok(Response::new(self.projects.explain_miss(&project, found).await?))
    }

    async fn list_deployments(
        &self,
        request: Request<pb::ListDeploymentsRequest>,
    ) -> Result<Response<pb::ListDeploymentsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let pb::ListDeploymentsRequest {
            project,
            page_size,
            page_token,
        } = request.into_inner();
        let (deployments, next_page_token) = self
            .predictor
            .deployments
            .list(&project, page_size, &page_token)
            .await?;
        if deployments.is_empty() {
            self.projects.require(&project).await?;
        }
        Ok(Response::new(pb::ListDeploymentsResponse {
            deployments,
            next_page_token,
        }))
    }

    async fn undeploy(
        &self,
        request: Request<pb::DeploymentRef>,
    ) -> Result<Response<pb::UndeployResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let pb::DeploymentRef { project, name } = request.into_inner();
        let removed = self.predictor.deployments.undeploy(&project, &name).await;
        self.projects.explain_miss(&project, removed).await?;
        Ok(Response::new(pb::UndeployResponse {}))
    }

    async fn predict(
        &self,
        request: Request<pb::PredictRequest>,
    ) -> Result<Response<pb::PredictResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.predictor.predict(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    async fn project_data(
        &self,
        request: Request<pb::ProjectDataRequest>,
    ) -> Result<Response<pb::ProjectDataResponse>, Status> {
        // The gateway's project-deletion cascade, for the project's admin.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let pb::ProjectDataRequest { project, delete } = request.into_inner();
        let n = self.predictor.deployments.project_data(&project, delete).await?;
        let counts = std::collections::HashMap::from([("deployments".to_owned(), n)]);
        Ok(Response::new(pb::ProjectDataResponse { counts }))
    }

    async fn batch_predict(
        &self,
        request: Request<pb::BatchPredictRequest>,
    ) -> Result<Response<pb::BatchPredictResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.batch.score(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }
}
