//! Deleting one version of a model: its row, lineage and aliases go, its files are removed in
//! the background, its number is never handed out again (the model's counter keeps it) and its
//! audit history stays, with the deletion as its last line.

use lathe_common::{Result, db};
use lathe_contract::registry::v1 as pb;

use super::{Models, actor_subject};
use crate::store::audit::{self, AuditEntry};
use crate::store::registered_models;

impl Models {
    pub async fn delete_model_version(&self, request: pb::DeleteModelVersionRequest) -> Result<()> {
        let request = &request;
        let (model_id, number) = db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let v = self.version(&txn, &m, request.version).await?;
            registered_models::delete_version(&txn, m.id, v.version).await?;
            audit::record(
                &txn,
                AuditEntry {
                    model_id: m.id,
                    version: v.version,
                    action: "version_deleted",
                    from: v.stage.clone(),
                    to: String::new(),
                    actor: actor_subject(&request.actor),
                    reason: "",
                },
            )
            .await?;
            txn.commit().await?;
            Ok((m.id, v.version))
        })
        .await?;
        self.tracking.cleanup.wake();
        tracing::info!(
            project = %request.project,
            model = %request.model,
            model_id,
            version = number,
            "model version deleted"
        );
        Ok(())
    }
}
