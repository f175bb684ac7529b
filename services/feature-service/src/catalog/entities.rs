//! Entities one at a time, as the API applies and deletes them: the same plan and store as a
//! whole repository, with the single-entity API's own checks.

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result, validate};
use lathe_contract::features::v1 as pb;

use super::Catalog;
use crate::definitions::model::{ENTITY, FEATURE_VIEW, Spec, StoredDefinition};
use crate::definitions::plan::{self, Action, Change};
use crate::definitions::repository::Declared;
use crate::definitions::spec::{EntitySpec, Scalar};

impl Catalog {
    /// Creates or updates an entity; a change of its join keys is refused (`join_keys_changed`).
    pub async fn apply_entity(&self, request: pb::ApplyEntityRequest) -> Result<StoredDefinition> {
        validate::project_name("project", &request.project)?;
        validate::identifier("name", &request.name)?;
        if request.join_keys.is_empty() {
            return Err(Error::invalid("join_keys: an entity needs at least one join key"));
        }
        for (i, key) in request.join_keys.iter().enumerate() {
            validate::identifier(&format!("join_keys[{i}].name"), &key.name)?;
            if Scalar::from_value_type(key.value_type).is_none() {
                return Err(Error::invalid(format!(
                    "join_keys[{i}].value_type: set one of int32, int64, float32, float64, bool, string, bytes, timestamp"
                )));
            }
            if request.join_keys[..i].iter().any(|k| k.name == key.name) {
                return Err(Error::invalid(format!(
                    "join_keys[{i}].name: '{}' appears twice",
                    key.name
                )));
            }
        }
        self.projects.require(&request.project).await?;
        let declared = Declared {
            spec: Spec::Entity(EntitySpec::from_wire(
                &request.name,
                &request.join_keys,
                &request.description,
            )),
            origin: "api".to_owned(),
        };
        let existing = self.store.get(&request.project, ENTITY, &request.name).await?;
        let (change, refusals) = plan::change_for(&declared, existing.as_ref());
        // The single-entity API speaks of join keys, as its callers do.
        plan::refuse_breaking(refusals).map_err(|err| err.with_reason(reasons::JOIN_KEYS_CHANGED))?;
        self.store.apply(&request.project, &[change], "api").await?;
        let stored = self.store.get(&request.project, ENTITY, &request.name).await?;
        let stored = stored.ok_or_else(|| Error::internal("applied entity vanished"))?;
        tracing::info!(project = %request.project, entity = %request.name, version = stored.version, "entity applied");
        Ok(stored)
    }

    /// Deletes an entity that no feature view uses (`entity_in_use` names those that do).
    pub async fn delete_entity(&self, project: &str, name: &str) -> Result<()> {
        if self.store.get(project, ENTITY, name).await?.is_none() {
            return Err(self.missing(ENTITY, project, name).await);
        }
        let users: Vec<String> = self
            .store
            .list(project, Some(FEATURE_VIEW))
            .await?
            .into_iter()
            .filter_map(|s| match s.spec {
                Spec::View(view) if view.entities.iter().any(|e| e == name) => Some(view.name),
                Spec::View(_) | Spec::Entity(_) | Spec::Source(_) | Spec::Service(_) => None,
            })
            .collect();
        if !users.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "entity '{name}' is used by feature views {}; delete or change them first",
                    users.join(", ")
                ),
            )
            .with_reason(reasons::ENTITY_IN_USE));
        }
        let change = Change {
            kind: ENTITY,
            name: name.to_owned(),
            action: Action::Delete,
            detail: "deleted through the API".to_owned(),
            desired: None,
            version: 0,
        };
        self.store.apply(project, &[change], "api").await
    }
}
