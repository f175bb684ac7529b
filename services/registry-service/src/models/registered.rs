//! Registered models: created with their promotion policies, read, listed, changed, and
//! deleted with their versions and files.

use lathe_common::reasons;
use lathe_common::{Error, Result, validate};
use lathe_contract::registry::v1 as pb;

use super::{Models, actor_subject, parse_policies, require_admin_for_policies};
use crate::domain::names;
use crate::domain::tags::{edit_tags, map_to_json, validate_tags};
use crate::paging::{decode_token, finish_page, page_size};
use crate::store::project;
use crate::store::registered_models::{self, NewModel};

impl Models {
    /// Registers a model; only an admin may give it promotion policies.
    pub async fn create_model(&self, request: pb::CreateModelRequest) -> Result<pb::Model> {
        validate::project_name("project", &request.project)?;
        names::display_name("name", &request.name)?;
        validate_tags(&request.tags)?;
        let policies = parse_policies(&request.policies)?;
        if !request.policies.is_empty() {
            require_admin_for_policies(&request.actor)?;
        }
        let new = NewModel {
            project: &request.project,
            name: &request.name,
            description: request.description.clone(),
            tags: map_to_json(&request.tags),
            policies,
        };
        let created = registered_models::create(self.db(), new).await?.ok_or_else(|| {
            Error::of(
                reasons::MODEL_ALREADY_EXISTS,
                format!(
                    "model '{}' already exists in project '{}'",
                    request.name, request.project
                ),
            )
        })?;
        self.model_to_proto(created).await
    }

    pub async fn get_model(&self, reference: pb::ModelRef) -> Result<pb::Model> {
        let m = self.model(self.db(), &reference.project, &reference.name).await?;
        self.model_to_proto(m).await
    }

    pub async fn list_models(&self, request: pb::ListModelsRequest) -> Result<pb::ListModelsResponse> {
        let limit = page_size(request.page_size)?;
        let after = decode_token(&request.page_token)?;
        let mut rows = registered_models::page(self.db(), &request.project, after, limit).await?;
        let next_page_token = finish_page(&mut rows, limit, |m| m.id);
        if rows.is_empty() {
            project::require(self.db(), &request.project).await?;
        }
        Ok(pb::ListModelsResponse {
            models: self.models_to_proto(rows).await?,
            next_page_token,
        })
    }

    /// Changes a model's description and tags; replacing its policies needs an admin.
    pub async fn update_model(&self, request: pb::UpdateModelRequest) -> Result<pb::Model> {
        let found = self.model(self.db(), &request.project, &request.name).await?;
        let tags = edit_tags(found.tags.clone(), &request.set_tags, &request.delete_tags)?;
        let policies = if request.replace_policies {
            require_admin_for_policies(&request.actor)?;
            Some(parse_policies(&request.policies)?)
        } else {
            None
        };
        let updated =
            registered_models::update(self.db(), found, request.description, policies, tags).await?;
        self.model_to_proto(updated).await
    }

    /// Gives the model a new name; its versions, aliases, gates and history keep their rows
    /// (they hang on its id), and the audit log records the rename.
    pub async fn rename_model(&self, request: pb::RenameModelRequest) -> Result<pb::Model> {
        names::display_name("new_name", &request.new_name)?;
        let found = self.model(self.db(), &request.project, &request.name).await?;
        if request.new_name == found.name {
            return self.model_to_proto(found).await;
        }
        let renamed =
            registered_models::rename(self.db(), found, &request.new_name, actor_subject(&request.actor))
                .await?
                .ok_or_else(|| {
                    Error::of(
                        reasons::MODEL_ALREADY_EXISTS,
                        format!(
                            "model '{}' already exists in project '{}'",
                            request.new_name, request.project
                        ),
                    )
                })?;
        tracing::info!(project = %request.project, from = %request.name, to = %request.new_name, "model renamed");
        self.model_to_proto(renamed).await
    }

    /// Deletes the model's rows now and its versions' files in the background.
    pub async fn delete_model(&self, reference: pb::ModelRef) -> Result<()> {
        let found = self.model(self.db(), &reference.project, &reference.name).await?;
        registered_models::delete(self.db(), found.id).await?;
        self.tracking.cleanup.wake();
        tracing::info!(project = %reference.project, model = %reference.name, "model deleted");
        Ok(())
    }
}
