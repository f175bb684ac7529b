//! Versions found by what they were trained on: a feature view, a feature service, a training
//! dataset or an orchestrator run.

use std::collections::BTreeMap;

use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::registry::v1 as pb;

use super::Models;
use crate::proto;
use crate::store::{aliases, project, versions};

impl Models {
    /// The project's versions linked to the one lineage value the request names, in model
    /// and version order.
    pub async fn find_versions_by_lineage(
        &self,
        request: pb::FindVersionsByLineageRequest,
    ) -> Result<pb::FindVersionsByLineageResponse> {
        let given: Vec<(&str, &str)> = [
            ("feature_view", request.feature_view.as_str()),
            ("feature_service", request.feature_service.as_str()),
            ("training_dataset", request.training_dataset.as_str()),
            ("orchestrator_run", request.orchestrator_run.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let [(kind, value)] = given.as_slice() else {
            return Err(Error::of(
                reasons::INVALID_LINEAGE_QUERY,
                "give exactly one of feature_view, feature_service, training_dataset or orchestrator_run",
            ));
        };
        // One query for the linked versions with their models, one for their aliases.
        let rows = versions::by_lineage(self.db(), &request.project, kind, value).await?;
        if rows.is_empty() {
            project::require(self.db(), &request.project).await?;
        }
        let mut model_ids: Vec<i64> = rows.iter().map(|(v, _)| v.model_id).collect();
        model_ids.sort_unstable();
        model_ids.dedup();
        let aliases = aliases::of_models(self.db(), &model_ids).await?;
        let no_aliases = BTreeMap::new();
        let mut versions = Vec::with_capacity(rows.len());
        for (v, m) in rows {
            let m = m.ok_or_else(|| Error::internal("a lineage row's version has no model"))?;
            let model_aliases = aliases.get(&m.id).unwrap_or(&no_aliases);
            versions.push(proto::version(&m, v, model_aliases)?);
        }
        versions.sort_by(|a, b| (a.model.as_str(), a.version).cmp(&(b.model.as_str(), b.version)));
        Ok(pb::FindVersionsByLineageResponse { versions })
    }
}
