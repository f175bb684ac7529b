//! The gRPC API of the feature-service: entities one at a time, and whole feature
//! repositories planned and applied atomically.

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::projects::ProjectCheck;
use lathe_common::validate;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use lathe_contract::features::v1::feature_service_server::FeatureService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::definitions::plan::{self, Action};
use crate::definitions::repository::{self, Declared, ENTITY, FEATURE_VIEW, KINDS, Spec};
use crate::definitions::spec::{EntitySpec, FeatureType, JoinKeySpec, Scalar};
use crate::definitions::store::{DefinitionStore, Stored};
use crate::retrieval::Retrieval;

pub struct FeaturesApi {
    store: DefinitionStore,
    projects: ProjectCheck,
    retrieval: Retrieval,
}

impl FeaturesApi {
    pub fn new(store: DefinitionStore, projects: ProjectCheck, retrieval: Retrieval) -> Self {
        FeaturesApi {
            store,
            projects,
            retrieval,
        }
    }
}

impl FeaturesApi {
    /// The error for a definition not found: `project_not_found` when the project is what is missing.
    async fn missing(&self, kind: &str, project: &str, name: &str) -> Error {
        match self.projects.require(project).await {
            Ok(()) => not_found(kind, project, name),
            Err(err) => err,
        }
    }
}

fn scalar_of(value_type: i32) -> Option<Scalar> {
    match pb::ValueType::try_from(value_type).ok()? {
        pb::ValueType::Int32 => Some(Scalar::Int32),
        pb::ValueType::Int64 => Some(Scalar::Int64),
        pb::ValueType::Float32 => Some(Scalar::Float32),
        pb::ValueType::Float64 => Some(Scalar::Float64),
        pb::ValueType::Bool => Some(Scalar::Bool),
        pb::ValueType::String => Some(Scalar::String),
        pb::ValueType::Bytes => Some(Scalar::Bytes),
        pb::ValueType::Timestamp => Some(Scalar::Timestamp),
        pb::ValueType::Unspecified => None,
    }
}

fn value_type_of(scalar: Scalar) -> pb::ValueType {
    match scalar {
        Scalar::Int32 => pb::ValueType::Int32,
        Scalar::Int64 => pb::ValueType::Int64,
        Scalar::Float32 => pb::ValueType::Float32,
        Scalar::Float64 => pb::ValueType::Float64,
        Scalar::Bool => pb::ValueType::Bool,
        Scalar::String => pb::ValueType::String,
        Scalar::Bytes => pb::ValueType::Bytes,
        Scalar::Timestamp => pb::ValueType::Timestamp,
    }
}

/// The stored form of an entity given over the API (types are validated separately).
pub fn spec_from_proto(entity: &pb::Entity) -> EntitySpec {
    EntitySpec {
        name: entity.name.clone(),
        join_keys: entity
            .join_keys
            .iter()
            .map(|k| JoinKeySpec {
                name: k.name.clone(),
                dtype: scalar_of(k.value_type)
                    .map_or_else(|| "unspecified".to_owned(), |s| s.name().to_owned()),
            })
            .collect(),
        description: entity.description.clone(),
        tags: Default::default(),
        owner: String::new(),
    }
}

fn entity_to_proto(project: &str, stored: Stored) -> Result<pb::Entity> {
    let Spec::Entity(spec) = stored.spec else {
        return Err(Error::internal("an entity row holds another kind"));
    };
    Ok(pb::Entity {
        project: project.to_owned(),
        name: spec.name,
        join_keys: spec
            .join_keys
            .into_iter()
            .map(|k| pb::JoinKey {
                value_type: FeatureType::parse(&k.dtype)
                    .map_or(pb::ValueType::Unspecified, |t| value_type_of(t.scalar))
                    as i32,
                name: k.name,
            })
            .collect(),
        description: spec.description,
        version: stored.version,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
    })
}

fn definition_to_proto(project: &str, stored: Stored) -> pb::Definition {
    pb::Definition {
        project: project.to_owned(),
        kind: stored.spec.kind().to_owned(),
        name: stored.spec.name().to_owned(),
        version: stored.version,
        spec_json: stored.spec.to_json().to_string(),
        origin: stored.origin,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
    }
}

fn not_found(kind: &str, project: &str, name: &str) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!(
            "{} '{name}' does not exist in project '{project}'",
            kind.replace('_', " ")
        ),
    )
    .with_reason(match kind {
        ENTITY => "entity_not_found",
        FEATURE_VIEW => "feature_view_not_found",
        repository::DATA_SOURCE => "data_source_not_found",
        _ => "feature_service_not_found",
    })
}

fn check_kind(kind: &str) -> Result<()> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "unknown kind '{kind}': use one of {}",
            KINDS.join(", ")
        )))
    }
}

fn action_to_proto(action: Action) -> pb::ChangeAction {
    match action {
        Action::Unchanged => pb::ChangeAction::Unchanged,
        Action::Create => pb::ChangeAction::Create,
        Action::Update => pb::ChangeAction::Update,
        Action::Delete => pb::ChangeAction::Delete,
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
        validate::project_name("project", &request.project)?;
        validate::identifier("name", &request.name)?;
        if request.join_keys.is_empty() {
            return Err(Error::invalid("join_keys: an entity needs at least one join key").into());
        }
        for (i, key) in request.join_keys.iter().enumerate() {
            validate::identifier(&format!("join_keys[{i}].name"), &key.name)?;
            if scalar_of(key.value_type).is_none() {
                return Err(Error::invalid(format!(
                    "join_keys[{i}].value_type: set one of int32, int64, float32, float64, bool, string, bytes, timestamp"
                ))
                .into());
            }
            if request.join_keys[..i].iter().any(|k| k.name == key.name) {
                return Err(
                    Error::invalid(format!("join_keys[{i}].name: '{}' appears twice", key.name)).into(),
                );
            }
        }
        self.projects.require(&request.project).await?;
        let entity = pb::Entity {
            project: request.project.clone(),
            name: request.name.clone(),
            join_keys: request.join_keys,
            description: request.description,
            ..pb::Entity::default()
        };
        let declared = Declared {
            spec: Spec::Entity(spec_from_proto(&entity)),
            origin: "api".to_owned(),
        };
        let existing = self.store.get(&request.project, ENTITY, &request.name).await?;
        let (change, refusals) = plan::change_for(&declared, existing.as_ref());
        plan::refuse_breaking(refusals).map_err(|err| {
            // The single-entity API speaks of join keys, as its callers do.
            Error {
                reason: "join_keys_changed".into(),
                ..err
            }
        })?;
        self.store.apply(&request.project, &[change], "api").await?;
        let stored = self.store.get(&request.project, ENTITY, &request.name).await?;
        let stored = stored.ok_or_else(|| Error::internal("applied entity vanished"))?;
        tracing::info!(project = %request.project, entity = %request.name, version = stored.version, "entity applied");
        Ok(Response::new(entity_to_proto(&request.project, stored)?))
    }

    async fn get_entity(
        &self,
        request: Request<pb::GetEntityRequest>,
    ) -> Result<Response<pb::Entity>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let stored = self.store.get(&request.project, ENTITY, &request.name).await?;
        let Some(stored) = stored else {
            return Err(self.missing(ENTITY, &request.project, &request.name).await.into());
        };
        Ok(Response::new(entity_to_proto(&request.project, stored)?))
    }

    async fn list_entities(
        &self,
        request: Request<pb::ListEntitiesRequest>,
    ) -> Result<Response<pb::ListEntitiesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let project = request.into_inner().project;
        let entities = self
            .store
            .list(&project, Some(ENTITY))
            .await?
            .into_iter()
            .map(|stored| entity_to_proto(&project, stored))
            .collect::<Result<Vec<_>>>()?;
        if entities.is_empty() {
            self.projects.require(&project).await?;
        }
        Ok(Response::new(pb::ListEntitiesResponse { entities }))
    }

    async fn delete_entity(
        &self,
        request: Request<pb::DeleteEntityRequest>,
    ) -> Result<Response<pb::DeleteEntityResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        if self
            .store
            .get(&request.project, ENTITY, &request.name)
            .await?
            .is_none()
        {
            return Err(self.missing(ENTITY, &request.project, &request.name).await.into());
        }
        let users: Vec<String> = self
            .store
            .list(&request.project, Some(FEATURE_VIEW))
            .await?
            .into_iter()
            .filter_map(|s| match s.spec {
                Spec::View(view) if view.entities.contains(&request.name) => Some(view.name),
                Spec::View(_) | Spec::Entity(_) | Spec::Source(_) | Spec::Service(_) => None,
            })
            .collect();
        if !users.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "entity '{}' is used by feature views {}; delete or change them first",
                    request.name,
                    users.join(", ")
                ),
            )
            .with_reason("entity_in_use")
            .into());
        }
        let change = plan::Change {
            kind: ENTITY,
            name: request.name.clone(),
            action: Action::Delete,
            detail: "deleted through the API".to_owned(),
            desired: None,
            version: 0,
        };
        self.store.apply(&request.project, &[change], "api").await?;
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
        let mut request = request.into_inner();
        request.actor = caller.subject().to_owned();
        validate::project_name("project", &request.project)?;
        self.projects.require(&request.project).await?;
        let files: Vec<(String, String)> = request.files.into_iter().map(|f| (f.path, f.content)).collect();
        let desired = repository::load(&request.project, &files)?;
        let stored = self.store.list(&request.project, None).await?;
        let changes = plan::plan(&desired, &stored)?;
        let applied = !request.dry_run;
        if applied {
            let actor = if request.actor.is_empty() {
                "api"
            } else {
                request.actor.as_str()
            };
            self.store.apply(&request.project, &changes, actor).await?;
            let changed = changes.iter().filter(|c| c.action != Action::Unchanged).count();
            tracing::info!(project = %request.project, changed, "feature repository applied");
        }
        let changes = changes
            .into_iter()
            .map(|c| pb::PlannedChange {
                kind: c.kind.to_owned(),
                name: c.name,
                action: action_to_proto(c.action) as i32,
                detail: c.detail,
                version: c.version,
            })
            .collect();
        Ok(Response::new(pb::ApplyRepositoryResponse { changes, applied }))
    }

    async fn list_definitions(
        &self,
        request: Request<pb::ListDefinitionsRequest>,
    ) -> Result<Response<pb::ListDefinitionsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let kind = (!request.kind.is_empty()).then_some(request.kind.as_str());
        if let Some(kind) = kind {
            check_kind(kind)?;
        }
        let definitions: Vec<_> = self
            .store
            .list(&request.project, kind)
            .await?
            .into_iter()
            .map(|stored| definition_to_proto(&request.project, stored))
            .collect();
        if definitions.is_empty() {
            self.projects.require(&request.project).await?;
        }
        Ok(Response::new(pb::ListDefinitionsResponse { definitions }))
    }

    async fn get_definition(
        &self,
        request: Request<pb::GetDefinitionRequest>,
    ) -> Result<Response<pb::Definition>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        check_kind(&request.kind)?;
        let stored = self
            .store
            .get(&request.project, &request.kind, &request.name)
            .await?;
        let Some(stored) = stored else {
            return Err(self
                .missing(&request.kind, &request.project, &request.name)
                .await
                .into());
        };
        Ok(Response::new(definition_to_proto(&request.project, stored)))
    }

    async fn get_definition_history(
        &self,
        request: Request<pb::GetDefinitionRequest>,
    ) -> Result<Response<pb::GetDefinitionHistoryResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        check_kind(&request.kind)?;
        let rows = self
            .store
            .history(&request.project, &request.kind, &request.name)
            .await?;
        if rows.is_empty() {
            return Err(self
                .missing(&request.kind, &request.project, &request.name)
                .await
                .into());
        }
        let versions = rows
            .into_iter()
            .map(|h| pb::DefinitionVersion {
                version: u64::try_from(h.version).unwrap_or(0),
                spec_json: h.spec.unwrap_or_default(),
                actor: h.actor,
                applied_time: Some(validate::timestamp(h.applied_time)),
            })
            .collect();
        Ok(Response::new(pb::GetDefinitionHistoryResponse { versions }))
    }

    async fn get_historical_features(
        &self,
        request: Request<pb::GetHistoricalFeaturesRequest>,
    ) -> Result<Response<pb::GetHistoricalFeaturesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.retrieval.historical(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    type MaterializeStream = ReceiverStream<Result<pb::MaterializeEvent, Status>>;

    /// Runs the materialization in its own task, so that it completes (and records what it
    /// wrote) even when the caller goes away; progress reports that find the stream full are
    /// dropped rather than slowing the writes.
    async fn materialize(
        &self,
        request: Request<pb::MaterializeRequest>,
    ) -> Result<Response<Self::MaterializeStream>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        // A long job: make sure it runs in a project that exists, rather than doing nothing.
        self.projects.require(&request.get_ref().project).await?;
        let (events, stream) = tokio::sync::mpsc::channel(16);
        let retrieval = self.retrieval.clone();
        let request = request.into_inner();
        tokio::spawn(async move {
            let progress_events = events.clone();
            let progress = move |progress| {
                let event = pb::materialize_event::Event::Progress(progress);
                let _ = progress_events.try_send(Ok(pb::MaterializeEvent { event: Some(event) }));
            };
            let last = match retrieval.materialize(request, &progress).await {
                Ok(done) => Ok(pb::MaterializeEvent {
                    event: Some(pb::materialize_event::Event::Done(done)),
                }),
                Err(err) => Err(Status::from(err)),
            };
            let _ = events.send(last).await;
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn get_online_features(
        &self,
        request: Request<pb::GetOnlineFeaturesRequest>,
    ) -> Result<Response<pb::GetOnlineFeaturesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.retrieval.online(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    async fn push(&self, request: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let project = request.project.clone();
        let answer = self.retrieval.push(request).await;
        Ok(Response::new(self.projects.explain_miss(&project, answer).await?))
    }

    /// Online rows go first: while they remain, the views that hold them remain listed, so
    /// a failed call can be repeated.
    async fn project_data(
        &self,
        request: Request<pb::ProjectDataRequest>,
    ) -> Result<Response<pb::ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        let n = if request.delete {
            let online = self.retrieval.online_store();
            for view in self.store.project_views(&request.project).await? {
                online
                    .delete_view(&request.project, &view)
                    .await
                    .map_err(Error::from)?;
            }
            let n = self.store.delete_project(&request.project).await?;
            tracing::info!(project = %request.project, definitions = n, "project's feature data deleted");
            n
        } else {
            self.store.count_project(&request.project).await?
        };
        Ok(Response::new(pb::ProjectDataResponse {
            counts: [("feature_definitions".to_owned(), n)].into(),
        }))
    }
}
