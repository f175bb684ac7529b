//! The model registry: registered models and their versions, stages under promotion gates,
//! aliases, the audit log and lineage. Each operation checks what it is given, reads and
//! writes through [`crate::store`], and answers the wire message. Reads of a model cost a
//! fixed number of indexed queries however many versions it has.

pub mod aliases;
pub mod audit;
pub mod lineage;
pub mod registered;
pub mod removal;
pub mod snapshot;
pub mod stages;
pub mod versions;

use lathe_common::auth::Role;
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::registry::v1 as pb;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::gates::Policy;
use crate::proto;
use crate::store::models::{alias, model, version};
use crate::store::{self, project, registered_models};
use crate::tracking::Tracking;

/// The stores the model registry works on; a version's files are copied from its run's.
pub struct Models {
    tracking: Tracking,
}

impl Models {
    pub fn new(tracking: Tracking) -> Self {
        Models { tracking }
    }

    fn db(&self) -> &DatabaseConnection {
        &self.tracking.db
    }

    async fn model<C: ConnectionTrait>(&self, db: &C, project: &str, name: &str) -> Result<model::Model> {
        self.find_model(db, project, name, false).await
    }

    /// The model, its row locked until `txn` ends (PostgreSQL's `FOR UPDATE`; SQLite's write
    /// transactions hold the whole database already): changes to one model's stages and
    /// aliases run one after another, so two promotions cannot both archive the other's
    /// version, and they cannot deadlock over its versions' rows.
    async fn model_for_update<C: ConnectionTrait>(
        &self,
        txn: &C,
        project: &str,
        name: &str,
    ) -> Result<model::Model> {
        self.find_model(txn, project, name, true).await
    }

    async fn find_model<C: ConnectionTrait>(
        &self,
        db: &C,
        project: &str,
        name: &str,
        for_update: bool,
    ) -> Result<model::Model> {
        match registered_models::find(db, project, name, for_update).await? {
            Some(found) => Ok(found),
            None => {
                project::require(db, project).await?;
                Err(Error::of(
                    reasons::MODEL_NOT_FOUND,
                    format!("model '{name}' does not exist in project '{project}'"),
                ))
            }
        }
    }

    async fn version<C: ConnectionTrait>(
        &self,
        db: &C,
        model: &model::Model,
        number: u64,
    ) -> Result<version::Model> {
        store::versions::find(db, model.id, number).await?.ok_or_else(|| {
            Error::of(
                reasons::MODEL_VERSION_NOT_FOUND,
                format!("model '{}' has no version {number}", model.name),
            )
        })
    }

    async fn alias<C: ConnectionTrait>(
        &self,
        db: &C,
        model: &model::Model,
        name: &str,
    ) -> Result<alias::Model> {
        store::aliases::find(db, model.id, name).await?.ok_or_else(|| {
            Error::of(
                reasons::ALIAS_NOT_FOUND,
                format!("model '{}' has no alias '{name}'", model.name),
            )
        })
    }

    /// Each model with its aliases and its newest version per stage, in two queries
    /// whatever the number of models and versions: one for the aliases of every model, one for
    /// the newest versions.
    async fn models_to_proto(&self, models: Vec<model::Model>) -> Result<Vec<pb::Model>> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
        let mut aliases_by_model = store::aliases::of_models(self.db(), &ids).await?;
        let mut newest_rows = store::versions::newest_per_stage_of(self.db(), ids).await?;
        models
            .into_iter()
            .map(|m| {
                let alias_map = aliases_by_model.remove(&m.id).unwrap_or_default();
                let mut latest_rows = newest_rows.remove(&m.id).unwrap_or_default();
                latest_rows.sort_by_key(|v| v.version);
                proto::model(m, alias_map, latest_rows)
            })
            .collect()
    }

    async fn model_to_proto(&self, m: model::Model) -> Result<pb::Model> {
        let mut one = self.models_to_proto(vec![m]).await?;
        Ok(one.pop().expect("one model in, one out"))
    }

    async fn one_version_to_proto(&self, m: &model::Model, v: version::Model) -> Result<pb::ModelVersion> {
        let aliases = store::aliases::of_version(self.db(), m.id, v.version).await?;
        proto::version_with_aliases(m, v, aliases)
    }
}

/// The role the gates see: the actor's, as the handler set it from the verified caller.
fn actor_role(actor: &Option<pb::Actor>) -> Option<Role> {
    actor.as_ref().and_then(|a| a.role.parse().ok())
}

/// The subject the audit log records.
fn actor_subject(actor: &Option<pb::Actor>) -> String {
    actor.as_ref().map(|a| a.subject.clone()).unwrap_or_default()
}

fn require_admin_for_policies(actor: &Option<pb::Actor>) -> Result<()> {
    if actor_role(actor) == Some(Role::Admin) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::PermissionDenied,
            "changing promotion policies needs role 'admin'",
        )
        .with_reason(reasons::ROLE_TOO_LOW))
    }
}

/// Promotion policies as stored: JSON of [`Policy`].
fn parse_policies(policies: &[pb::PromotionPolicy]) -> Result<serde_json::Value> {
    let parsed = policies
        .iter()
        .enumerate()
        .map(|(i, p)| Policy::from_proto(p, i))
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_json::to_value(parsed).unwrap_or_default())
}
