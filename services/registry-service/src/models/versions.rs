//! Model versions: registered from a run's files and metrics with their signature and lineage,
//! read, listed newest first, and changed.

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
use crate::store::models::{StoredLineage, StoredSignature, version};
use crate::store::{aliases, cleanup, metrics, registered_models, versions};

impl Models {
    /// Registers the next version of a model: a copy of the run's artifact at
    /// `artifact_path`, the run's latest metrics, and what it was trained on.
    pub async fn create_model_version(
        &self,
        request: pb::CreateModelVersionRequest,
    ) -> Result<pb::ModelVersion> {
        validate_tags(&request.tags)?;
        let found = self.model(self.db(), &request.project, &request.model).await?;
        let run = self.tracking.run(&request.project, &request.run_id).await?;
        let artifact_path = names::artifact_path(&request.artifact_path, false)?;
        let signature = request.signature.unwrap_or_default();
        for (i, input) in signature.inputs.iter().enumerate() {
            if input.is_empty() || input.len() > 256 {
                return Err(Error::invalid(format!(
                    "signature.inputs[{i}]: name a feature as `view:feature`"
                )));
            }
        }
        let lineage_in = request.lineage.unwrap_or_default();

        let number = registered_models::next_version_number(self.db(), found.id).await?;
        let prefix = format!("models/{}/versions/{number}", found.id);
        let (artifact_uri, artifact_sha256) =
            match snapshot::copy_run_artifact(&self.tracking, &run, &artifact_path, &prefix).await {
                Ok(snapshot) => snapshot,
                Err(err) => {
                    // Remove whatever part of the copy was made.
                    cleanup::schedule(self.db(), format!("{prefix}/")).await?;
                    self.tracking.cleanup.wake();
                    return Err(err);
                }
            };
        let metrics = metrics::latest_of_run(self.db(), &run.id).await?;
        let now = Utc::now();
        let row = version::Model {
            model_id: found.id,
            version: number,
            stage: Stage::None.name().to_owned(),
            description: request.description,
            tags: map_to_json(&request.tags),
            run_id: run.id.clone(),
            artifact_uri,
            artifact_sha256,
            metrics: serde_json::to_value(&metrics).unwrap_or_default(),
            signature: serde_json::to_value(StoredSignature {
                inputs: signature.inputs,
                output: signature.output,
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
