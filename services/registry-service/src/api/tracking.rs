//! `TrackingService`: experiments, runs, metrics, run search and artifacts.

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::tracking_service_server::TrackingService;
use tonic::{Request, Response, Status, Streaming};

use super::search::run_search;
use crate::tracking::Tracking;
use crate::tracking::artifacts::{self, DownloadStream};

#[derive(Clone)]
pub struct TrackingApi {
    tracking: Tracking,
}

impl TrackingApi {
    pub fn new(tracking: Tracking) -> Self {
        TrackingApi { tracking }
    }
}

#[tonic::async_trait]
impl TrackingService for TrackingApi {
    async fn create_experiment(
        &self,
        request: Request<pb::CreateExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.create_experiment(request.into_inner()).await?,
        ))
    }

    async fn get_experiment(
        &self,
        request: Request<pb::GetExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.get_experiment(request.into_inner()).await?,
        ))
    }

    async fn list_experiments(
        &self,
        request: Request<pb::ListExperimentsRequest>,
    ) -> Result<Response<pb::ListExperimentsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.list_experiments(request.into_inner()).await?,
        ))
    }

    async fn update_experiment(
        &self,
        request: Request<pb::UpdateExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.update_experiment(request.into_inner()).await?,
        ))
    }

    async fn delete_experiment(
        &self,
        request: Request<pb::ExperimentRef>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.delete_experiment(request.into_inner()).await?,
        ))
    }

    async fn restore_experiment(
        &self,
        request: Request<pb::ExperimentRef>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.restore_experiment(request.into_inner()).await?,
        ))
    }

    async fn create_run(&self, request: Request<pb::CreateRunRequest>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.create_run(request.into_inner()).await?,
        ))
    }

    async fn get_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(self.tracking.get_run(request.into_inner()).await?))
    }

    async fn update_run(&self, request: Request<pb::UpdateRunRequest>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.update_run(request.into_inner()).await?,
        ))
    }

    async fn delete_run(
        &self,
        request: Request<pb::RunRef>,
    ) -> Result<Response<pb::DeleteRunResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        self.tracking.delete_run(request.into_inner()).await?;
        Ok(Response::new(pb::DeleteRunResponse {}))
    }

    async fn archive_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.archive_run(request.into_inner()).await?,
        ))
    }

    async fn restore_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.restore_run(request.into_inner()).await?,
        ))
    }

    async fn log_batch(
        &self,
        request: Request<pb::LogBatchRequest>,
    ) -> Result<Response<pb::LogBatchResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        self.tracking.log_batch(request.into_inner()).await?;
        Ok(Response::new(pb::LogBatchResponse {}))
    }

    async fn get_metric_history(
        &self,
        request: Request<pb::GetMetricHistoryRequest>,
    ) -> Result<Response<pb::GetMetricHistoryResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.get_metric_history(request.into_inner()).await?,
        ))
    }

    async fn search_runs(
        &self,
        request: Request<pb::SearchRunsRequest>,
    ) -> Result<Response<pb::SearchRunsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        Ok(Response::new(
            self.tracking.search_runs(run_search(&request)?).await?,
        ))
    }

    async fn upload_artifact(
        &self,
        request: Request<Streaming<pb::UploadArtifactRequest>>,
    ) -> Result<Response<pb::Artifact>, Status> {
        // The project is in the stream's first message: the upload checks it there.
        let caller = access::Caller::of(&request)?;
        Ok(Response::new(
            artifacts::upload(&self.tracking, &caller, request.into_inner()).await?,
        ))
    }

    type DownloadArtifactStream = DownloadStream;

    async fn download_artifact(
        &self,
        request: Request<pb::ArtifactRef>,
    ) -> Result<Response<Self::DownloadArtifactStream>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            artifacts::download(&self.tracking, request.into_inner()).await?,
        ))
    }

    async fn list_artifacts(
        &self,
        request: Request<pb::ListArtifactsRequest>,
    ) -> Result<Response<pb::ListArtifactsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            artifacts::list(&self.tracking, request.into_inner()).await?,
        ))
    }
}
