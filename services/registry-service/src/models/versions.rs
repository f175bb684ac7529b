//! Model versions: registered from a run's files (or a logged model's) and the run's metrics with
//! their signature and lineage, read, listed newest first, and changed; their own copies of the
//! files listed and downloaded.

use std::collections::BTreeMap;

use chrono::Utc;
use lathe_common::{Error, Result};
use lathe_contract::registry::v1 as pb;

use super::{Models, actor_subject, snapshot};
use crate::domain::gates::Stage;
use crate::domain::names;
use crate::domain::tags::{edit_tags, map_to_json, validate_tags};
use crate::paging::{decode_token, finish_page, page_size};
use crate::proto;
use crate::store::models::{StoredLineage, StoredSignature, model, version};
use crate::store::{aliases, cleanup, metrics, registered_models, runs, versions};
use crate::tracking::artifacts::{self, DownloadStream, Owner};

/// Object-store prefix of a version's own copy of its files.
fn version_prefix(model_id: i64, number: i64) -> String {
    format!("models/{model_id}/versions/{number}")
}

impl Models {
    /// Registers the next version of a model: a copy of the run's artifact at `artifact_path`
    /// (or of the logged model `logged_model_id`'s files, whose source run is then the
    /// version's run), the run's latest metrics, and what it was trained on.
    pub async fn create_model_version(
        &self,
        request: pb::CreateModelVersionRequest,
    ) -> Result<pb::ModelVersion> {
        validate_tags(&request.tags)?;
        lathe_common::validate::visible("source", &request.source)?;
        let found = self.model(self.db(), &request.project, &request.model).await?;
        let (owner, run, artifact_path, default_source) = if request.logged_model_id.is_empty() {
            let run = self.tracking.run(&request.project, &request.run_id).await?;
            let artifact_path = names::artifact_path(&request.artifact_path, false)?;
            let source = format!("runs:/{}/{artifact_path}", run.id);
            (Owner::Run(run.clone()), Some(run), artifact_path, source)
        } else {
            let logged = self
                .tracking
                .logged_model(&request.project, &request.logged_model_id)
                .await?;
            // The source run may be gone; the version then names no run.
            let run = runs::find(self.db(), &logged.source_run_id)
                .await?
                .filter(|r| r.project == request.project);
            let source = format!("models:/{}", logged.id);
            (Owner::LoggedModel(logged), run, String::new(), source)
        };
        let signature = request.signature.unwrap_or_default();
        for (i, input) in signature.inputs.iter().enumerate() {
            if input.is_empty() || input.len() > 256 {
                return Err(Error::invalid(format!(
                    "signature.inputs[{i}]: name a feature as `view:feature`"
                )));
            }
        }
        for (input, value) in &signature.defaults {
            if !signature.inputs.contains(input) || !value.is_finite() {
                return Err(Error::invalid(format!(
                    "signature.defaults['{input}']: a default is a finite number for one of the signature's inputs"
                )));
            }
        }
        let lineage_in = request.lineage.unwrap_or_default();

        let number = registered_models::next_version_number(self.db(), found.id).await?;
        let prefix = version_prefix(found.id, number);
        let (artifact_uri, artifact_sha256) =
            match snapshot::copy_artifact(&self.tracking, &owner, &artifact_path, &prefix).await {
                Ok(snapshot) => snapshot,
                Err(err) => {
                    // Remove whatever part of the copy was made.
                    cleanup::schedule(self.db(), format!("{prefix}/")).await?;
                    self.tracking.cleanup.wake();
                    return Err(err);
                }
            };
        let metrics = match &run {
            Some(run) => metrics::latest_of_run(self.db(), &run.id).await?,
            None => Default::default(),
        };
        let now = Utc::now();
        let row = version::Model {
            model_id: found.id,
            version: number,
            stage: Stage::None.name().to_owned(),
            description: request.description,
            tags: map_to_json(&request.tags),
            run_id: run.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
            artifact_uri,
            artifact_sha256,
            metrics: serde_json::to_value(&metrics).unwrap_or_default(),
            signature: serde_json::to_value(StoredSignature {
                inputs: signature.inputs,
                output: signature.output,
                defaults: signature.defaults.into_iter().collect(),
            })
            .unwrap_or_default(),
            lineage: serde_json::to_value(StoredLineage {
                feature_views: lineage_in.feature_views.clone(),
                feature_service: lineage_in.feature_service.clone(),
                training_dataset: lineage_in.training_dataset.clone(),
                orchestrator_run: lineage_in.orchestrator_run.clone(),
            })
            .unwrap_or_default(),
            created_by: actor_subject(&request.actor),
            create_time: now,
            update_time: now,
            source: if request.source.is_empty() {
                default_source
            } else {
                request.source
            },
            logged_model_id: match &owner {
                Owner::LoggedModel(logged) => logged.id.clone(),
                Owner::Run(_) => String::new(),
            },
        };
        let mut links: Vec<(&str, String)> = lineage_in
            .feature_views
            .iter()
            .map(|v| ("feature_view", v.clone()))
            .collect();
        for (kind, value) in [
            ("feature_service", lineage_in.feature_service),
            ("training_dataset", lineage_in.training_dataset),
            ("orchestrator_run", lineage_in.orchestrator_run),
        ] {
            if !value.is_empty() {
                links.push((kind, value));
            }
        }
        links.sort();
        links.dedup();
        versions::insert(self.db(), row.clone(), links).await?;
        tracing::info!(project = %request.project, model = %found.name, version = number, "model version registered");
        proto::version(&found, row, &BTreeMap::new())
    }

    pub async fn get_model_version(&self, reference: pb::ModelVersionRef) -> Result<pb::ModelVersion> {
        // One query finds the version by its model's name, with its aliases; only a miss asks
        // which is missing.
        if let Some(found) =
            versions::find_by_number(self.db(), &reference.project, &reference.model, reference.version)
                .await?
        {
            return proto::version_with_aliases(&found.model, found.version, found.aliases);
        }
        let m = self
            .model(self.db(), &reference.project, &reference.model)
            .await?;
        let v = self.version(self.db(), &m, reference.version).await?;
        // Created since the first look.
        self.one_version_to_proto(&m, v).await
    }

    pub async fn list_model_versions(
        &self,
        request: pb::ListModelVersionsRequest,
    ) -> Result<pb::ListModelVersionsResponse> {
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let limit = page_size(request.page_size)?;
        // Newest first; the token is the last version of the previous page.
        let before = decode_token(&request.page_token)?;
        let mut rows = versions::page(self.db(), m.id, before, limit).await?;
        let next_page_token = finish_page(&mut rows, limit, |v| v.version);
        let aliases = aliases::of_models(self.db(), &[m.id])
            .await?
            .remove(&m.id)
            .unwrap_or_default();
        let versions = rows
            .into_iter()
            .map(|v| proto::version(&m, v, &aliases))
            .collect::<Result<Vec<_>>>()?;
        Ok(pb::ListModelVersionsResponse {
            versions,
            next_page_token,
        })
    }

    pub async fn update_model_version(
        &self,
        request: pb::UpdateModelVersionRequest,
    ) -> Result<pb::ModelVersion> {
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let v = self.version(self.db(), &m, request.version).await?;
        let tags = edit_tags(v.tags.clone(), &request.set_tags, &request.delete_tags)?;
        let updated = versions::update(self.db(), v, request.description, tags).await?;
        self.one_version_to_proto(&m, updated).await
    }
}

impl Models {
    /// The version, by its model's name and its number.
    async fn version_of(
        &self,
        project: &str,
        name: &str,
        number: u64,
    ) -> Result<(model::Model, version::Model)> {
        if let Some(found) = versions::find_by_number(self.db(), project, name, number).await? {
            return Ok((found.model, found.version));
        }
        let m = self.model(self.db(), project, name).await?;
        let v = self.version(self.db(), &m, number).await?;
        Ok((m, v))
    }

    /// The files and sub-directories directly in a directory of the version's own copy.
    pub async fn list_version_artifacts(
        &self,
        reference: pb::ModelVersionArtifactRef,
    ) -> Result<pb::ListArtifactsResponse> {
        let dir = names::artifact_path(&reference.path, true)?;
        let (m, v) = self
            .version_of(&reference.project, &reference.model, reference.version)
            .await?;
        artifacts::list_objects(&self.tracking, &version_prefix(m.id, v.version), &dir).await
    }

    /// A file of the version's own copy, streamed.
    pub async fn download_version_artifact(
        &self,
        reference: pb::ModelVersionArtifactRef,
    ) -> Result<DownloadStream> {
        let path = names::artifact_path(&reference.path, false)?;
        let (m, v) = self
            .version_of(&reference.project, &reference.model, reference.version)
            .await?;
        let location = object_store::path::Path::from(format!("{}/{path}", version_prefix(m.id, v.version)));
        artifacts::download_object(&self.tracking, location, &path).await
    }
}
