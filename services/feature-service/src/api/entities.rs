//! Entities: the keys that features are joined on (a driver, a customer…).

use std::collections::HashSet;

use lathe_common::definitions::{Definitions, Stored};
use lathe_common::projects::ProjectCheck;
use lathe_common::validate;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1::feature_service_server::FeatureService;
use lathe_contract::features::v1::{
    ApplyEntityRequest, DeleteEntityRequest, DeleteEntityResponse, Entity, GetEntityRequest, JoinKey,
    ListEntitiesRequest, ListEntitiesResponse, ValueType,
};
use tonic::{Request, Response, Status};

pub struct FeaturesApi {
    entities: Definitions<Entity>,
    projects: ProjectCheck,
}

impl FeaturesApi {
    pub fn new(entities: Definitions<Entity>, projects: ProjectCheck) -> Self {
        FeaturesApi { entities, projects }
    }
}

fn with_metadata(stored: Stored<Entity>) -> Entity {
    Entity {
        version: stored.version,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
        ..stored.spec
    }
}

fn not_found(project: &str, name: &str) -> Error {
    Error::not_found(
        "entity_not_found",
        format!("entity '{name}' does not exist in project '{project}'"),
    )
}

fn validate_join_keys(keys: &[JoinKey]) -> Result<()> {
    if keys.is_empty() {
        return Err(Error::invalid("join_keys: an entity needs at least one join key"));
    }
    let mut seen = HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        validate::identifier(&format!("join_keys[{i}].name"), &key.name)?;
        if !seen.insert(key.name.as_str()) {
            return Err(Error::invalid(format!(
                "join_keys[{i}].name: '{}' appears twice",
                key.name
            )));
        }
        match ValueType::try_from(key.value_type) {
            Ok(ValueType::Unspecified) | Err(_) => {
                return Err(Error::invalid(format!(
                    "join_keys[{i}].value_type: set one of int32, int64, float32, float64, bool, string, bytes, timestamp"
                )));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl FeatureService for FeaturesApi {
    async fn apply_entity(&self, request: Request<ApplyEntityRequest>) -> Result<Response<Entity>, Status> {
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        validate::identifier("name", &request.name)?;
        validate_join_keys(&request.join_keys)?;
        self.projects.require(&request.project).await?;
        if let Some(existing) = self.entities.get(&request.project, &request.name).await?
            && existing.spec.join_keys != request.join_keys
        {
            // Stored feature rows are keyed by the old join keys; changing them would orphan them.
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "entity '{}': join keys cannot change once applied (stored data is keyed by them); \
                     create a new entity instead",
                    request.name
                ),
            )
            .with_reason("join_keys_changed")
            .into());
        }
        let spec = Entity {
            project: request.project,
            name: request.name,
            join_keys: request.join_keys,
            description: request.description,
            ..Entity::default()
        };
        let stored = self.entities.put(&spec.project, &spec.name, &spec).await?;
        tracing::info!(project = %spec.project, entity = %spec.name, version = stored.version, "entity applied");
        Ok(Response::new(with_metadata(stored)))
    }

    async fn get_entity(&self, request: Request<GetEntityRequest>) -> Result<Response<Entity>, Status> {
        let request = request.into_inner();
        let stored = self.entities.get(&request.project, &request.name).await?;
        let stored = stored.ok_or_else(|| not_found(&request.project, &request.name))?;
        Ok(Response::new(with_metadata(stored)))
    }

    async fn list_entities(
        &self,
        request: Request<ListEntitiesRequest>,
    ) -> Result<Response<ListEntitiesResponse>, Status> {
        let project = request.into_inner().project;
        let entities = self
            .entities
            .list(&project)
            .await?
            .into_iter()
            .map(with_metadata)
            .collect();
        Ok(Response::new(ListEntitiesResponse { entities }))
    }

    async fn delete_entity(
        &self,
        request: Request<DeleteEntityRequest>,
    ) -> Result<Response<DeleteEntityResponse>, Status> {
        let request = request.into_inner();
        if !self.entities.delete(&request.project, &request.name).await? {
            return Err(not_found(&request.project, &request.name).into());
        }
        Ok(Response::new(DeleteEntityResponse {}))
    }
}
