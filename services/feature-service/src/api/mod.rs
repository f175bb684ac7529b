//! The gRPC API of the feature-service. Each method checks the caller's role first, takes the
//! request apart, calls the function that does the work and wraps its answer; the work is in
//! `catalog` (repositories, entities, definition reads), `feature_values` (retrieval,
//! materialization, online reads, push) and `project_data`.

mod definition_messages;

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::projects::ProjectCheck;
use lathe_contract::features::v1 as pb;
use lathe_contract::features::v1::feature_service_server::FeatureService;
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::catalog::Catalog;
use crate::catalog::paging::PageRequest;
use crate::definitions::model::ENTITY;
use crate::feature_values::FeatureValues;
use crate::project_data;

pub struct FeaturesApi {
    catalog: Catalog,
    values: FeatureValues,
    projects: ProjectCheck,
}

impl FeaturesApi {
    pub fn new(catalog: Catalog, values: FeatureValues, projects: ProjectCheck) -> Self {
        FeaturesApi {
            catalog,
            values,
            projects,
        }
    }
}

#[tonic::async_trait]
impl FeatureService for FeaturesApi {
    async fn apply_entity(
        &self,
        request: Request<pb::ApplyEntityRequest>,
    ) -> Result<Response<pb::Entity>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let stored = self.catalog.apply_entity(request).await?;
        Ok(Response::new(definition_messages::entity(&project, stored)?))
    }

    async fn get_entity(
        &self,
        request: Request<pb::GetEntityRequest>,
    ) -> Result<Response<pb::Entity>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let stored = self.catalog.get(&request.project, ENTITY, &request.name).await?;
        Ok(Response::new(definition_messages::entity(
            &request.project,
            stored,
        )?))
    }

    async fn list_entities(
        &self,
        request: Request<pb::ListEntitiesRequest>,
    ) -> Result<Response<pb::ListEntitiesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let page = PageRequest::new(request.page_size, request.page_token);
        let (entities, next_page_token) = self
            .catalog
            .list_page(&request.project, Some(ENTITY), &page)
            .await?;
        let entities = entities
            .into_iter()
            .map(|stored| definition_messages::entity(&request.project, stored))
            .collect::<lathe_common::Result<Vec<_>>>()?;
        Ok(Response::new(pb::ListEntitiesResponse {
            entities,
            next_page_token,
        }))
    }

    async fn delete_entity(
        &self,
        request: Request<pb::DeleteEntityRequest>,
    ) -> Result<Response<pb::DeleteEntityResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.catalog
            .delete_entity(&request.project, &request.name)
            .await?;
        Ok(Response::new(pb::DeleteEntityResponse {}))
    }

    async fn apply_repository(
        &self,
        request: Request<pb::ApplyRepositoryRequest>,
    ) -> Result<Response<pb::ApplyRepositoryResponse>, Status> {
        let role = if request.get_ref().dry_run {
            Role::Viewer
        } else {
            Role::Editor
        };
        let caller = access::require(&request, role, &request.get_ref().project)?;
        let request = request.into_inner();
        let files: Vec<(String, String)> = request.files.into_iter().map(|f| (f.path, f.content)).collect();
        let changes = self
            .catalog
            .apply_repository(&request.project, &files, request.dry_run, caller.subject())
            .await?;
        Ok(Response::new(pb::ApplyRepositoryResponse {
            changes: changes
                .into_iter()
                .map(definition_messages::planned_change)
                .collect(),
            applied: !request.dry_run,
        }))
    }

    async fn list_definitions(
        &self,
        request: Request<pb::ListDefinitionsRequest>,
    ) -> Result<Response<pb::ListDefinitionsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let kind = (!request.kind.is_empty()).then_some(request.kind.as_str());
        let page = PageRequest::new(request.page_size, request.page_token);
        let (definitions, next_page_token) = self.catalog.list_page(&request.project, kind, &page).await?;
        Ok(Response::new(pb::ListDefinitionsResponse {
            definitions: definitions
                .into_iter()
                .map(|stored| definition_messages::definition(&request.project, stored))
                .collect(),
            next_page_token,
        }))
    }

    async fn get_definition(
        &self,
        request: Request<pb::GetDefinitionRequest>,
    ) -> Result<Response<pb::Definition>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let stored = self
            .catalog
            .get(&request.project, &request.kind, &request.name)
            .await?;
        Ok(Response::new(definition_messages::definition(
            &request.project,
            stored,
        )))
    }

    async fn get_definition_history(
        &self,
        request: Request<pb::GetDefinitionHistoryRequest>,
    ) -> Result<Response<pb::GetDefinitionHistoryResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let page = PageRequest::new(request.page_size, request.page_token);
        let (versions, next_page_token) = self
            .catalog
            .history_page(&request.project, &request.kind, &request.name, &page)
            .await?;
        Ok(Response::new(pb::GetDefinitionHistoryResponse {
            versions: versions
                .into_iter()
                .map(definition_messages::definition_version)
                .collect(),
            next_page_token,
        }))
    }

    async fn get_historical_features(
        &self,
        request: Request<pb::GetHistoricalFeaturesRequest>,
    ) -> Result<Response<pb::GetHistoricalFeaturesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.values.historical_features(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    type MaterializeStream = ReceiverStream<Result<pb::MaterializeEvent, Status>>;

    async fn materialize(
        &self,
        request: Request<pb::MaterializeRequest>,
    ) -> Result<Response<Self::MaterializeStream>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        // A long job: make sure it runs in a project that exists, rather than doing nothing.
        self.projects.require(&request.get_ref().project).await?;
        let events = materialize_in_background(self.values.clone(), request.into_inner());
        Ok(Response::new(events))
    }

    async fn list_materializations(
        &self,
        request: Request<pb::ListMaterializationsRequest>,
    ) -> Result<Response<pb::ListMaterializationsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.values.materialization_states(request).await;
        let answer = self.projects.explain_miss(&project, answer).await?;
        // No view at all may also mean no such project.
        if answer.views.is_empty() {
            self.projects.require(&project).await?;
        }
        Ok(Response::new(answer))
    }

    async fn read_feature_view(
        &self,
        request: Request<pb::ReadFeatureViewRequest>,
    ) -> Result<Response<pb::ReadFeatureViewResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.values.read_feature_view(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    async fn get_online_features(
        &self,
        request: Request<pb::GetOnlineFeaturesRequest>,
    ) -> Result<Response<pb::GetOnlineFeaturesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.values.online_features(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    async fn ingest_file(
        &self,
        mut request: Request<tonic::Streaming<pb::IngestFileRequest>>,
    ) -> Result<Response<pb::IngestFileResponse>, Status> {
        let first = request
            .get_mut()
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the ingest stream is empty: send a header first"))?;
        let header = first.header.clone().ok_or_else(|| {
            Status::invalid_argument("the first message of an ingest must carry the header")
        })?;
        access::require(&request, Role::Editor, &header.project)?;
        let project = header.project.clone();
        let target = self.values.ingest_target(&header).await;
        self.projects.explain_miss(&project, target).await?;
        // Spooled to a temporary file: the checks need the whole file (a Parquet footer is at
        // its end), and memory must not.
        let spool = tempfile::tempfile().map_err(|e| Status::internal(format!("temporary file: {e}")))?;
        let mut spool = tokio::fs::File::from_std(spool);
        let mut message = Some(first);
        let mut committed = false;
        while let Some(part) = message {
            if !part.chunk.is_empty() {
                spool
                    .write_all(&part.chunk)
                    .await
                    .map_err(|e| Status::internal(format!("temporary file: {e}")))?;
            }
            if part.commit {
                committed = true;
                break;
            }
            message = request.get_mut().message().await?;
        }
        if !committed {
            return Err(Status::aborted(
                "the file ended before its commit: nothing was written",
            ));
        }
        spool
            .flush()
            .await
            .map_err(|e| Status::internal(format!("temporary file: {e}")))?;
        let answer = self.values.ingest(header, spool.into_std().await).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    async fn push(&self, request: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.values.push(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    async fn project_data(
        &self,
        request: Request<pb::ProjectDataRequest>,
    ) -> Result<Response<pb::ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        let n = if request.delete {
            let online = self.values.online_store().as_ref();
            project_data::delete(self.catalog.store(), online, &request.project).await?
        } else {
            project_data::count(self.catalog.store(), &request.project).await?
        };
        Ok(Response::new(pb::ProjectDataResponse {
            counts: [("feature_definitions".to_owned(), n)].into(),
        }))
    }
}

/// Runs the materialization in its own task, so that it completes (and records what it
/// wrote) even when the caller goes away; progress reports that find the stream full are
/// dropped rather than slowing the writes. The stream ends with the answer or the error.
fn materialize_in_background(
    values: FeatureValues,
    request: pb::MaterializeRequest,
) -> ReceiverStream<Result<pb::MaterializeEvent, Status>> {
    let (events, stream) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let progress_events = events.clone();
        let progress = move |progress| {
            let event = pb::materialize_event::Event::Progress(progress);
            let _ = progress_events.try_send(Ok(pb::MaterializeEvent { event: Some(event) }));
        };
        let last = match values.materialize(request, &progress).await {
            Ok(done) => Ok(pb::MaterializeEvent {
                event: Some(pb::materialize_event::Event::Done(done)),
            }),
            Err(err) => Err(Status::from(err)),
        };
        let _ = events.send(last).await;
    });
    ReceiverStream::new(stream)
}
