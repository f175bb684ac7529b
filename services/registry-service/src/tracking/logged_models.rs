//! MLflow 3's logged models: created in an active experiment (by a run, or on their own), their
//! files uploaded into their own artifact tree ([`super::artifacts`], as a run's), finalized,
//! tagged, searched and deleted; and the record of which logged models a run produced.

use std::collections::HashMap;

use futures::{Stream, StreamExt, TryStreamExt};
use lathe_common::access::Caller;
use lathe_common::auth::Role;
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::registry::v1 as pb;
use tonic::Status;

use super::artifacts::{self, DownloadStream, Owner, UploadPart};
use super::{Tracking, now_ms};
use crate::domain::filter::logged_models::{
    LoggedModelClause, LoggedModelField, parse_logged_model_filter, parse_logged_model_order,
};
use crate::domain::names;
use crate::domain::states::ACTIVE;
use crate::domain::tags::{edit_tags, json_to_map, map_to_json, validate_tags};
use crate::paging::{decode_token, encode_token, page_size};
use crate::proto;
use crate::store::logged_models::{self, LoggedModelChange, logged_model};

/// Stored statuses.
const PENDING: &str = "PENDING";
const READY: &str = "READY";
const FAILED: &str = "FAILED";

impl Tracking {
    /// Object-store prefix of a logged model's files, inside its experiment's.
    pub(crate) fn logged_model_prefix(model: &logged_model::Model) -> String {
        format!("experiments/{}/models/{}", model.experiment_id, model.id)
    }

    /// The logged model, if it exists in `project`.
    pub(crate) async fn logged_model(&self, project: &str, id: &str) -> Result<logged_model::Model> {
        match logged_models::find(&self.db, id)
            .await?
            .filter(|m| m.project == project)
        {
            Some(found) => Ok(found),
            None => {
                let err = Error::of(
                    reasons::LOGGED_MODEL_NOT_FOUND,
                    format!("logged model '{id}' does not exist in project '{project}'"),
                );
                self.missing(project, err).await
            }
        }
    }

    fn logged_model_to_proto(&self, model: logged_model::Model) -> pb::LoggedModel {
        let uri = format!(
            "{}/{}/artifacts",
            self.objects_url.trim_end_matches('/'),
            Tracking::logged_model_prefix(&model)
        );
        proto::logged_model(model, uri)
    }

    pub async fn create_logged_model(
        &self,
        request: pb::CreateLoggedModelRequest,
    ) -> Result<pb::LoggedModel> {
        let experiment = self.experiment(&request.project, &request.experiment_id).await?;
        if experiment.lifecycle_stage != ACTIVE {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "experiment '{}' is deleted; restore it before logging models",
                    experiment.name
                ),
            )
            .with_reason(reasons::EXPERIMENT_DELETED));
        }
        if !request.source_run_id.is_empty() {
            let run = self.run(&request.project, &request.source_run_id).await?;
            if run.experiment_id != experiment.id {
                return Err(Error::invalid(format!(
                    "run '{}' belongs to experiment {}, not {}",
                    run.id, run.experiment_id, experiment.id
                )));
            }
        }
        let name = if request.name.is_empty() {
            "model".to_owned()
        } else {
            request.name
        };
        names::display_name("name", &name)?;
        validate_tags(&request.tags)?;
        validate_params(&request.params)?;
        lathe_common::validate::visible("model_type", &request.model_type)?;
        let now = now_ms();
        let row = logged_model::Model {
            id: format!("m-{}", uuid::Uuid::new_v4().simple()),
            project: request.project,
            experiment_id: experiment.id,
            name,
            source_run_id: request.source_run_id,
            status: PENDING.to_owned(),
            status_message: String::new(),
            model_type: request.model_type,
            params: map_to_json(&request.params),
            tags: map_to_json(&request.tags),
            create_time: now,
            update_time: now,
        };
        logged_models::create(&self.db, row.clone()).await?;
        tracing::info!(project = %row.project, model_id = %row.id, "logged model created");
        Ok(self.logged_model_to_proto(row))
    }

    pub async fn get_logged_model(&self, reference: pb::LoggedModelRef) -> Result<pb::LoggedModel> {
        let found = self.logged_model(&reference.project, &reference.model_id).await?;
        Ok(self.logged_model_to_proto(found))
    }

    /// Marks the logged model ready (its files are uploaded) or failed.
    pub async fn finalize_logged_model(
        &self,
        request: pb::FinalizeLoggedModelRequest,
    ) -> Result<pb::LoggedModel> {
        let status = match pb::LoggedModelStatus::try_from(request.status) {
            Ok(pb::LoggedModelStatus::Ready) => READY,
            Ok(pb::LoggedModelStatus::Failed) => FAILED,
            Ok(pb::LoggedModelStatus::Pending) => PENDING,
            Ok(pb::LoggedModelStatus::Unspecified) | Err(_) => {
                return Err(Error::invalid("status: use READY or FAILED"));
            }
        };
        let found = self.logged_model(&request.project, &request.model_id).await?;
        let change = LoggedModelChange {
            status: Some((status.to_owned(), request.status_message)),
            tags: None,
        };
        let updated = logged_models::update(&self.db, found, change, now_ms()).await?;
        Ok(self.logged_model_to_proto(updated))
    }

    pub async fn set_logged_model_tags(
        &self,
        request: pb::SetLoggedModelTagsRequest,
    ) -> Result<pb::LoggedModel> {
        let found = self.logged_model(&request.project, &request.model_id).await?;
        let tags = edit_tags(found.tags.clone(), &request.tags, &[])?;
        let change = LoggedModelChange {
            status: None,
            tags: Some(tags),
        };
        let updated = logged_models::update(&self.db, found, change, now_ms()).await?;
        Ok(self.logged_model_to_proto(updated))
    }

    /// Removes a tag; a tag that is not set is not found, as in MLflow.
    pub async fn delete_logged_model_tag(
        &self,
        request: pb::DeleteLoggedModelTagRequest,
    ) -> Result<pb::LoggedModel> {
        let found = self.logged_model(&request.project, &request.model_id).await?;
        if !json_to_map(found.tags.clone()).contains_key(&request.key) {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("logged model '{}' has no tag '{}'", found.id, request.key),
            ));
        }
        let tags = edit_tags(
            found.tags.clone(),
            &HashMap::new(),
            std::slice::from_ref(&request.key),
        )?;
        let change = LoggedModelChange {
            status: None,
            tags: Some(tags),
        };
        let updated = logged_models::update(&self.db, found, change, now_ms()).await?;
        Ok(self.logged_model_to_proto(updated))
    }

    /// The project's logged models in the given experiments (every one when none is given) that
    /// the filter keeps, in the requested order, a page at a time (the token is an offset). A `name = '…'` condition is
    /// answered by the database; the others are checked on the experiments' logged models.
    pub async fn search_logged_models(
        &self,
        request: pb::SearchLoggedModelsRequest,
    ) -> Result<pb::SearchLoggedModelsResponse> {
        let invalid = |err: crate::domain::filter::FilterError| {
            Error::invalid(err.to_string()).with_reason(reasons::INVALID_FILTER)
        };
        let clauses = parse_logged_model_filter(&request.filter).map_err(invalid)?;
        let orders = request
            .order_by
            .iter()
            .map(|clause| parse_logged_model_order(clause))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let limit = page_size(request.page_size)?;
        let offset = decode_token(&request.page_token)?.unwrap_or(0).max(0);
        // As in MLflow, an experiment that does not exist holds no logged models.
        let experiments: Vec<i64> = request
            .experiment_ids
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect();
        if experiments.is_empty() && !request.experiment_ids.is_empty() {
            return Ok(pb::SearchLoggedModelsResponse::default());
        }
        let by_name = clauses
            .iter()
            .find_map(|clause| match (&clause.field, clause.op, &clause.value) {
                (
                    LoggedModelField::Name,
                    crate::domain::filter::Op::Eq,
                    crate::domain::filter::Value::Text(name),
                ) => Some(name.as_str()),
                _ => None,
            });
        let rows = logged_models::of_experiments(&self.db, &request.project, &experiments, by_name).await?;
        let mut kept: Vec<logged_model::Model> = rows.into_iter().filter(|m| keeps(&clauses, m)).collect();
        // Stable sorts from the last clause to the first: the first clause decides.
        for (field, descending) in orders.iter().rev() {
            kept.sort_by(|a, b| {
                let order = match field {
                    LoggedModelField::Name => a.name.cmp(&b.name),
                    LoggedModelField::ModelId => a.id.cmp(&b.id),
                    LoggedModelField::SourceRunId => a.source_run_id.cmp(&b.source_run_id),
                    LoggedModelField::Status => a.status.cmp(&b.status),
                    LoggedModelField::ModelType => a.model_type.cmp(&b.model_type),
                    LoggedModelField::CreationTime => a.create_time.cmp(&b.create_time),
                    LoggedModelField::UpdateTime => a.update_time.cmp(&b.update_time),
                    LoggedModelField::Tag(_) | LoggedModelField::Param(_) => std::cmp::Ordering::Equal,
                };
                if *descending { order.reverse() } else { order }
            });
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(kept.len());
        let end = start
            .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
            .min(kept.len());
        let next_page_token = if end < kept.len() {
            encode_token(i64::try_from(end).unwrap_or(i64::MAX))
        } else {
            String::new()
        };
        let models = kept
            .drain(start..end)
            .map(|m| self.logged_model_to_proto(m))
            .collect();
        Ok(pb::SearchLoggedModelsResponse {
            models,
            next_page_token,
        })
    }

    /// Deletes the logged model and its files; versions registered from it keep their copies.
    pub async fn delete_logged_model(&self, reference: pb::LoggedModelRef) -> Result<()> {
        let found = self.logged_model(&reference.project, &reference.model_id).await?;
        let prefix = format!("{}/", Tracking::logged_model_prefix(&found));
        logged_models::delete(&self.db, &found.id, prefix).await?;
        self.cleanup.wake();
        tracing::info!(project = %reference.project, model_id = %found.id, "logged model deleted");
        Ok(())
    }

    /// Records the logged models a run produced; each must exist in the run's project.
    pub async fn log_run_outputs(&self, request: pb::LogRunOutputsRequest) -> Result<()> {
        let run = self.writable_run(&request.project, &request.run_id).await?;
        let mut outputs = Vec::with_capacity(request.models.len());
        for output in request.models {
            let model = self.logged_model(&request.project, &output.model_id).await?;
            outputs.push((model.id, output.step));
        }
        logged_models::add_run_outputs(&self.db, &run.id, &outputs).await
    }

    /// Stores a file of a logged model from an upload stream (a header, data chunks, then a
    /// commit); `caller` must be an editor of the header's project.
    pub async fn upload_logged_model_artifact(
        &self,
        caller: &Caller,
        mut stream: impl Stream<Item = std::result::Result<pb::UploadLoggedModelArtifactRequest, Status>>
        + Unpin
        + Send,
    ) -> Result<pb::Artifact> {
        use pb::upload_logged_model_artifact_request::Part;
        let header = match stream.next().await.transpose()? {
            Some(pb::UploadLoggedModelArtifactRequest {
                part: Some(Part::Header(header)),
            }) => header,
            _ => {
                return Err(Error::invalid(
                    "an artifact upload must start with its header message",
                ));
            }
        };
        caller.require(Role::Editor, &header.project)?;
        let path = names::artifact_path(&header.path, false)?;
        let model = self.logged_model(&header.project, &header.model_id).await?;
        let parts = stream.map_ok(|message| match message.part {
            Some(Part::Chunk(chunk)) => UploadPart::Chunk(chunk),
            Some(Part::Commit(commit)) => UploadPart::Commit(commit.size),
            Some(Part::Header(_)) | None => UploadPart::Unexpected,
        });
        artifacts::store_upload(
            self,
            &Owner::LoggedModel(model),
            &path,
            &header.expected_sha256,
            parts,
        )
        .await
    }

    pub async fn download_logged_model_artifact(
        &self,
        reference: pb::LoggedModelArtifactRef,
    ) -> Result<DownloadStream> {
        let path = names::artifact_path(&reference.path, false)?;
        let model = self.logged_model(&reference.project, &reference.model_id).await?;
        artifacts::download_from(self, &Owner::LoggedModel(model), &path).await
    }

    pub async fn list_logged_model_artifacts(
        &self,
        reference: pb::LoggedModelArtifactRef,
    ) -> Result<pb::ListArtifactsResponse> {
        let dir = names::artifact_path(&reference.path, true)?;
        let model = self.logged_model(&reference.project, &reference.model_id).await?;
        artifacts::list_of(self, &Owner::LoggedModel(model), &dir).await
    }
}

/// Whether every clause holds for the logged model.
fn keeps(clauses: &[LoggedModelClause], model: &logged_model::Model) -> bool {
    if clauses.is_empty() {
        return true;
    }
    let tags = json_to_map(model.tags.clone());
    let params = json_to_map(model.params.clone());
    clauses.iter().all(|clause| match &clause.field {
        LoggedModelField::Name => clause.holds_for_text(Some(&model.name)),
        LoggedModelField::ModelId => clause.holds_for_text(Some(&model.id)),
        LoggedModelField::SourceRunId => clause.holds_for_text(Some(&model.source_run_id)),
        LoggedModelField::Status => clause.holds_for_text(Some(&model.status)),
        LoggedModelField::ModelType => clause.holds_for_text(Some(&model.model_type)),
        LoggedModelField::CreationTime => clause.holds_for_number(model.create_time),
        LoggedModelField::UpdateTime => clause.holds_for_number(model.update_time),
        LoggedModelField::Tag(key) => clause.holds_for_text(tags.get(key).map(String::as_str)),
        LoggedModelField::Param(key) => clause.holds_for_text(params.get(key).map(String::as_str)),
    })
}

fn validate_params(params: &HashMap<String, String>) -> Result<()> {
    for (key, value) in params {
        names::key("param key", key)?;
        if value.len() > names::MAX_PARAM_VALUE_LEN {
            return Err(Error::invalid(format!(
                "param '{key}': values are at most {} characters",
                names::MAX_PARAM_VALUE_LEN
            )));
        }
    }
    Ok(())
}
