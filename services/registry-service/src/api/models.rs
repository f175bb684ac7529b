//! `ModelRegistryService`: registered models and versions, stages, aliases, the audit log and
//! lineage. Who acts in a change is the verified caller, never what the message says.

use lathe_common::access::{self, Caller};
use lathe_common::auth::Role;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::model_registry_service_server::ModelRegistryService;
use tonic::{Request, Response, Status};

use crate::models::Models;

pub struct ModelsApi {
    models: Models,
}

impl ModelsApi {
    pub fn new(models: Models) -> Self {
        ModelsApi { models }
    }
}

/// The actor the audit log and the gates see: the verified caller.
fn actor_of(caller: &Caller) -> Option<pb::Actor> {
    Some(pb::Actor {
        subject: caller.subject().to_owned(),
        role: caller.role().map_or("", Role::as_str).to_owned(),
    })
}

#[tonic::async_trait]
impl ModelRegistryService for ModelsApi {
    async fn create_model(
        &self,
        request: Request<pb::CreateModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.create_model(request).await?))
    }

    async fn get_model(&self, request: Request<pb::ModelRef>) -> Result<Response<pb::Model>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(self.models.get_model(request.into_inner()).await?))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.list_models(request.into_inner()).await?,
        ))
    }

    async fn update_model(
        &self,
        request: Request<pb::UpdateModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.update_model(request).await?))
    }

    async fn rename_model(
        &self,
        request: Request<pb::RenameModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.rename_model(request).await?))
    }

    async fn delete_model_version(
        &self,
        request: Request<pb::DeleteModelVersionRequest>,
    ) -> Result<Response<pb::DeleteModelVersionResponse>, Status> {
        let caller = access::require(&request, Role::Admin, &request.get_ref().project)?;
        let mut request = request.into_inner();
        request.actor = actor_of(&caller);
        self.models.delete_model_version(request).await?;
        Ok(Response::new(pb::DeleteModelVersionResponse {}))
    }

    async fn delete_model(
        &self,
        request: Request<pb::ModelRef>,
    ) -> Result<Response<pb::DeleteModelResponse>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        self.models.delete_model(request.into_inner()).await?;
        Ok(Response::new(pb::DeleteModelResponse {}))
    }

    async fn create_model_version(
        &self,
        request: Request<pb::CreateModelVersionRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.create_model_version(request).await?))
    }

    async fn get_model_version(
        &self,
        request: Request<pb::ModelVersionRef>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.get_model_version(request.into_inner()).await?,
        ))
    }

    async fn list_model_versions(
        &self,
        request: Request<pb::ListModelVersionsRequest>,
    ) -> Result<Response<pb::ListModelVersionsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.list_model_versions(request.into_inner()).await?,
        ))
    }

    async fn update_model_version(
        &self,
        request: Request<pb::UpdateModelVersionRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.update_model_version(request).await?))
    }

    async fn transition_stage(
        &self,
        request: Request<pb::TransitionStageRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.transition_stage(request).await?))
    }

    async fn evaluate_gates(
        &self,
        request: Request<pb::EvaluateGatesRequest>,
    ) -> Result<Response<pb::EvaluateGatesResponse>, Status> {
        let caller = access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // The role conditions judge the token's role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.evaluate_gates(request).await?))
    }

    async fn set_alias(
        &self,
        request: Request<pb::SetAliasRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        Ok(Response::new(self.models.set_alias(request).await?))
    }

    async fn delete_alias(
        &self,
        request: Request<pb::DeleteAliasRequest>,
    ) -> Result<Response<pb::DeleteAliasResponse>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        self.models.delete_alias(request).await?;
        Ok(Response::new(pb::DeleteAliasResponse {}))
    }

    async fn get_version_by_alias(
        &self,
        request: Request<pb::AliasRef>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.get_version_by_alias(request.into_inner()).await?,
        ))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.list_audit_events(request.into_inner()).await?,
        ))
    }

    async fn find_versions_by_lineage(
        &self,
        request: Request<pb::FindVersionsByLineageRequest>,
    ) -> Result<Response<pb::FindVersionsByLineageResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            self.models.find_versions_by_lineage(request.into_inner()).await?,
        ))
    }
}
