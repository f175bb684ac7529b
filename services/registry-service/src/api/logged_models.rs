//! `LoggedModelService`: MLflow 3's logged models, their files, the model outputs of runs, and
//! the files of model versions. Readers need `viewer`, writers `editor`, as for runs.

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::logged_model_service_server::LoggedModelService;
use tonic::{Request, Response, Status, Streaming};

use crate::models::Models;
use crate::tracking::Tracking;
use crate::tracking::artifacts::DownloadStream;

pub struct LoggedModelsApi {
    tracking: Tracking,
    models: Models,
}

impl LoggedModelsApi {
    pub fn new(tracking: Tracking) -> Self {
        LoggedModelsApi {
            models: Models::new(tracking.clone()),
            tracking,
        }
    }
}

#[tonic::async_trait]
impl LoggedModelService for LoggedModelsApi {
    async fn create_logged_model(
        &self,
        request: Request<pb::CreateLoggedModelRequest>,
    ) -> Result<Response<pb::LoggedModel>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.create_logged_model(request.into_inner()).await?,
        ))
    }

    async fn get_logged_model(
        &self,
        request: Request<pb::LoggedModelRef>,
    ) -> Result<Response<pb::LoggedModel>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.get_logged_model(request.into_inner()).await?,
        ))
    }

    async fn finalize_logged_model(
        &self,
        request: Request<pb::FinalizeLoggedModelRequest>,
    ) -> Result<Response<pb::LoggedModel>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.finalize_logged_model(request.into_inner()).await?,
        ))
    }

    async fn set_logged_model_tags(
        &self,
        request: Request<pb::SetLoggedModelTagsRequest>,
    ) -> Result<Response<pb::LoggedModel>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.set_logged_model_tags(request.into_inner()).await?,
        ))
    }

    async fn delete_logged_model_tag(
        &self,
        request: Request<pb::DeleteLoggedModelTagRequest>,
    ) -> Result<Response<pb::LoggedModel>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking
                .delete_logged_model_tag(request.into_inner())
                .await?,
        ))
    }

    async fn search_logged_models(
        &self,
        request: Request<pb::SearchLoggedModelsRequest>,
    ) -> Result<Response<pb::SearchLoggedModelsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking.search_logged_models(request.into_inner()).await?,
        ))
    }

    async fn delete_logged_model(
        &self,
        request: Request<pb::LoggedModelRef>,
    ) -> Result<Response<pb::DeleteLoggedModelResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        self.tracking.delete_logged_model(request.into_inner()).await?;
        Ok(Response::new(pb::DeleteLoggedModelResponse {}))
    }

    async fn log_run_outputs(
        &self,
        request: Request<pb::LogRunOutputsRequest>,
    ) -> Result<Response<pb::LogRunOutputsResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        self.tracking.log_run_outputs(request.into_inner()).await?;
        Ok(Response::new(pb::LogRunOutputsResponse {}))
    }

    async fn upload_logged_model_artifact(
        &self,
        request: Request<Streaming<pb::UploadLoggedModelArtifactRequest>>,
    ) -> Result<Response<pb::Artifact>, Status> {
        // The project is in the stream's first message: the upload checks it there.
        let caller = access::Caller::of(&request)?;
        Ok(Response::new(
            self.tracking
                .upload_logged_model_artifact(&caller, request.into_inner())
                .await?,
        ))
    }

    type DownloadLoggedModelArtifactStream = DownloadStream;

    async fn download_logged_model_artifact(
        &self,
        request: Request<pb::LoggedModelArtifactRef>,
    ) -> Result<Response<Self::DownloadLoggedModelArtifactStream>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking
                .download_logged_model_artifact(request.into_inner())
                .await?,
        ))
    }

    async fn list_logged_model_artifacts(
        &self,
        request: Request<pb::LoggedModelArtifactRef>,
    ) -> Result<Response<pb::ListArtifactsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.tracking
                .list_logged_model_artifacts(request.into_inner())
                .await?,
        ))
    }

    type DownloadModelVersionArtifactStream = DownloadStream;

    async fn download_model_version_artifact(
        &self,
        request: Request<pb::ModelVersionArtifactRef>,
    ) -> Result<Response<Self::DownloadModelVersionArtifactStream>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models
                .download_version_artifact(request.into_inner())
                .await?,
        ))
    }

    async fn list_model_version_artifacts(
        &self,
        request: Request<pb::ModelVersionArtifactRef>,
    ) -> Result<Response<pb::ListArtifactsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.list_version_artifacts(request.into_inner()).await?,
        ))
    }
}
