//! Stored definitions as the wire's messages: entities, definitions of any kind, their
//! versions, and planned changes.

use lathe_common::{Error, Result, validate};
use lathe_contract::features::v1 as pb;

use crate::definitions::model::{Spec, StoredDefinition};
use crate::definitions::plan::{Action, Change};
use crate::definitions::spec::FeatureType;
use crate::store::definitions::history;

pub fn entity(project: &str, stored: StoredDefinition) -> Result<pb::Entity> {
    let Spec::Entity(spec) = stored.spec else {
        return Err(Error::internal("an entity row holds another kind"));
    };
    Ok(pb::Entity {
        project: project.to_owned(),
        name: spec.name,
        join_keys: spec
            .join_keys
            .into_iter()
            .map(|k| pb::JoinKey {
                value_type: FeatureType::parse(&k.dtype)
                    .map_or(pb::ValueType::Unspecified, |t| t.scalar.value_type())
                    as i32,
                name: k.name,
            })
            .collect(),
        description: spec.description,
        version: stored.version,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
    })
}

pub fn definition(project: &str, stored: StoredDefinition) -> pb::Definition {
    pb::Definition {
        project: project.to_owned(),
        kind: stored.spec.kind().to_owned(),
        name: stored.spec.name().to_owned(),
        version: stored.version,
        spec_json: stored.spec.to_json().to_string(),
        origin: stored.origin,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
    }
}

pub fn definition_version(version: history::Model) -> pb::DefinitionVersion {
    pb::DefinitionVersion {
        version: u64::try_from(version.version).unwrap_or(0),
        spec_json: version.spec.unwrap_or_default(),
        actor: version.actor,
        applied_time: Some(validate::timestamp(version.applied_time)),
    }
}

pub fn planned_change(change: Change) -> pb::PlannedChange {
    pb::PlannedChange {
        kind: change.kind.to_owned(),
        name: change.name,
        action: change_action(change.action) as i32,
        detail: change.detail,
        version: change.version,
    }
}

fn change_action(action: Action) -> pb::ChangeAction {
    match action {
        Action::Unchanged => pb::ChangeAction::Unchanged,
        Action::Create => pb::ChangeAction::Create,
        Action::Update => pb::ChangeAction::Update,
        Action::Delete => pb::ChangeAction::Delete,
    }
}
