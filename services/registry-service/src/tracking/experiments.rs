//! Experiments: created, found by id or name, listed, renamed and retagged, deleted with their
//! runs and restored with them.

use lathe_common::reasons;
use lathe_common::{Error, Result, validate};
use lathe_contract::registry::v1 as pb;

use super::Tracking;
use crate::domain::names;
use crate::domain::states::{ACTIVE, DELETED, view_stage};
use crate::domain::tags::{edit_tags, map_to_json, validate_tags};
use crate::paging::{decode_token, finish_page, page_size};
use crate::proto;
use crate::store::{experiments, project};

impl Tracking {
    pub async fn create_experiment(&self, request: pb::CreateExperimentRequest) -> Result<pb::Experiment> {
        validate::project_name("project", &request.project)?;
        names::display_name("name", &request.name)?;
        validate_tags(&request.tags)?;
        let created = experiments::create(
            &self.db,
            &request.project,
            &request.name,
            map_to_json(&request.tags),
            &self.objects_url,
        )
        .await?
        .ok_or_else(|| {
            Error::of(
                reasons::EXPERIMENT_ALREADY_EXISTS,
                format!(
                    "experiment '{}' already exists in project '{}'",
                    request.name, request.project
                ),
            )
        })?;
        Ok(proto::experiment(created))
    }

    /// The experiment by id, or by name when no id is given.
    pub async fn get_experiment(&self, request: pb::GetExperimentRequest) -> Result<pb::Experiment> {
        let found = if request.experiment_id.is_empty() {
            match experiments::find_by_name(&self.db, &request.project, &request.name).await? {
                Some(found) => found,
                None => {
                    let err = Error::of(
                        reasons::EXPERIMENT_NOT_FOUND,
                        format!(
                            "experiment '{}' does not exist in project '{}'",
                            request.name, request.project
                        ),
                    );
                    self.missing(&request.project, err).await?
                }
            }
        } else {
            self.experiment(&request.project, &request.experiment_id).await?
        };
        Ok(proto::experiment(found))
    }

    pub async fn list_experiments(
        &self,
        request: pb::ListExperimentsRequest,
    ) -> Result<pb::ListExperimentsResponse> {
        let limit = page_size(request.page_size)?;
        let stage = view_stage(request.view)?;
        let after = decode_token(&request.page_token)?;
        let mut rows = experiments::page(&self.db, &request.project, stage, after, limit).await?;
        let next_page_token = finish_page(&mut rows, limit, |e| e.id);
        if rows.is_empty() {
            project::require(&self.db, &request.project).await?;
        }
        Ok(pb::ListExperimentsResponse {
            experiments: rows.into_iter().map(proto::experiment).collect(),
            next_page_token,
        })
    }

    pub async fn update_experiment(&self, request: pb::UpdateExperimentRequest) -> Result<pb::Experiment> {
        let found = self.experiment(&request.project, &request.experiment_id).await?;
        let tags = edit_tags(found.tags.clone(), &request.set_tags, &request.delete_tags)?;
        if let Some(name) = &request.new_name {
            names::display_name("new_name", name)?;
        }
        let updated = experiments::update(&self.db, found, request.new_name.clone(), tags)
            .await?
            .ok_or_else(|| {
                Error::of(
                    reasons::EXPERIMENT_ALREADY_EXISTS,
                    format!(
                        "an experiment named '{}' already exists",
                        request.new_name.unwrap_or_default()
                    ),
                )
            })?;
        Ok(proto::experiment(updated))
    }

    /// Deletes the experiment with its runs (they can be restored).
    pub async fn delete_experiment(&self, reference: pb::ExperimentRef) -> Result<pb::Experiment> {
        self.set_experiment_stage(reference, DELETED).await
    }

    pub async fn restore_experiment(&self, reference: pb::ExperimentRef) -> Result<pb::Experiment> {
        self.set_experiment_stage(reference, ACTIVE).await
    }

    async fn set_experiment_stage(
        &self,
        reference: pb::ExperimentRef,
        stage: &str,
    ) -> Result<pb::Experiment> {
        let found = self
            .experiment(&reference.project, &reference.experiment_id)
            .await?;
        let updated = experiments::set_stage(&self.db, found, stage).await?;
        tracing::info!(project = %updated.project, experiment = %updated.name, stage, "experiment lifecycle changed");
        Ok(proto::experiment(updated))
    }
}
