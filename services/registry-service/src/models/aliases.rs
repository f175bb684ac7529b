//! Aliases of versions (`champion` → version 7): set, deleted and resolved, each change
//! written to the audit log.

use lathe_common::{Result, db};
use lathe_contract::registry::v1 as pb;

use super::{Models, actor_subject};
use crate::domain::names;
use crate::proto;
use crate::store::audit::{self, AuditEntry};
use crate::store::{aliases, versions};

impl Models {
    /// Points an alias at a version, moving it if it pointed at another.
    pub async fn set_alias(&self, request: pb::SetAliasRequest) -> Result<pb::ModelVersion> {
        let request = &request;
        names::alias(&request.alias)?;
        let (m, v) = db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let v = self.version(&txn, &m, request.version).await?;
            let previous = aliases::set(&txn, m.id, &request.alias, v.version).await?;
            let from = previous
                .map(|p| format!("{}@v{}", request.alias, p.version))
                .unwrap_or_default();
            let to = format!("{}@v{}", request.alias, v.version);
            audit::record(
                &txn,
                AuditEntry {
                    model_id: m.id,
                    version: v.version,
                    action: "alias_set",
                    from,
                    to,
                    actor: actor_subject(&request.actor),
                    reason: &request.reason,
                },
            )
            .await?;
            txn.commit().await?;
            Ok((m, v))
        })
        .await?;
        self.one_version_to_proto(&m, v).await
    }

    pub async fn delete_alias(&self, request: pb::DeleteAliasRequest) -> Result<()> {
        let request = &request;
        db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let existing = self.alias(&txn, &m, &request.alias).await?;
            aliases::delete(&txn, m.id, &request.alias).await?;
            let from = format!("{}@v{}", request.alias, existing.version);
            audit::record(
                &txn,
                AuditEntry {
                    model_id: m.id,
                    version: existing.version,
                    action: "alias_deleted",
                    from,
                    to: String::new(),
                    actor: actor_subject(&request.actor),
                    reason: &request.reason,
                },
            )
            .await?;
            txn.commit().await?;
            Ok(())
        })
        .await
    }

    /// The version an alias points at, with its aliases.
    pub async fn get_version_by_alias(&self, reference: pb::AliasRef) -> Result<pb::ModelVersion> {
        if let Some(found) =
            versions::find_by_alias(self.db(), &reference.project, &reference.model, &reference.alias).await?
        {
            return proto::version_with_aliases(&found.model, found.version, found.aliases);
        }
        // Which is missing, the model or the alias; or the alias was set since.
        let m = self
            .model(self.db(), &reference.project, &reference.model)
            .await?;
        let a = self.alias(self.db(), &m, &reference.alias).await?;
        let v = self
            .version(self.db(), &m, u64::try_from(a.version).unwrap_or(0))
            .await?;
        self.one_version_to_proto(&m, v).await
    }
}
