//! Compares the desired repository with what is stored: what to create, update and delete,
//! and which changes would break stored data (refused, with what and why).

use std::collections::{BTreeMap, BTreeSet};

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};

use super::model::{Spec, StoredDefinition};
use super::repository::{Declared, Repository, problem_list};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    pub detail: String,
    pub desired: Option<Declared>,
    /// Version after the change (current version when unchanged, 0 after deletion).
    pub version: u64,
}

/// Top-level fields whose canonical JSON differs.
fn changed_fields(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return vec!["spec".to_owned()];
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

/// Why changing `old` into `new` would break stored data, if it would.
fn breaking(old: &Spec, new: &Spec) -> Vec<String> {
    match (old, new) {
        (Spec::Entity(a), Spec::Entity(b)) if a.join_keys != b.join_keys => {
            let render = |keys: &[super::spec::JoinKeySpec]| {
                keys.iter()
                    .map(|k| format!("{} {}", k.name, k.dtype))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![format!(
                "entity '{}': join keys would change from ({}) to ({}); stored rows are keyed by them — create a new entity instead",
                a.name,
                render(&a.join_keys),
                render(&b.join_keys)
            )]
        }
        (Spec::View(a), Spec::View(b)) => {
            let mut reasons = Vec::new();
            let before: BTreeMap<&str, &str> = a
                .schema
                .iter()
                .map(|f| (f.name.as_str(), f.dtype.as_str()))
                .collect();
            for field in &b.schema {
                if let Some(old_type) = before.get(field.name.as_str())
                    && *old_type != field.dtype
                {
                    reasons.push(format!(
                        "feature view '{}': feature '{}' would change type from {old_type} to {}; stored values have the old type — add a feature with a new name instead",
                        a.name, field.name, field.dtype
                    ));
                }
            }
            if a.aggregations != b.aggregations {
                let render = |view: &super::spec::FeatureViewSpec| {
                    if view.aggregations.is_empty() {
                        "none".to_owned()
                    } else {
                        view.aggregations
                            .iter()
                            .map(|a| a.output_name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                reasons.push(format!(
                    "feature view '{}': aggregations would change from [{}] to [{}]; the online state holds the old ones' tiles — delete the view and apply it again (or add a view with a new name)",
                    a.name,
                    render(a),
                    render(b)
                ));
            }
            if a.entities != b.entities {
                reasons.push(format!(
                    "feature view '{}': entities would change from [{}] to [{}]; stored rows are keyed by the old join keys — create a new feature view instead",
                    a.name,
                    a.entities.join(", "),
                    b.entities.join(", ")
                ));
            }
            reasons
        }
        _ => Vec::new(),
    }
}

/// The change that turns `existing` into `declared`, and the reasons it would break data.
pub fn change_for(declared: &Declared, existing: Option<&StoredDefinition>) -> (Change, Vec<String>) {
    let kind = declared.spec.kind();
    let name = declared.spec.name().to_owned();
    match existing {
        None => (
            Change {
                kind,
                name,
                action: Action::Create,
                detail: format!("declared in {}", declared.origin),
                desired: Some(declared.clone()),
                version: 1,
            },
            Vec::new(),
        ),
        Some(existing) => {
            let fields = changed_fields(&existing.spec.to_json(), &declared.spec.to_json());
            if fields.is_empty() {
                let change = Change {
                    kind,
                    name,
                    action: Action::Unchanged,
                    detail: String::new(),
                    desired: Some(declared.clone()),
                    version: existing.version,
                };
                (change, Vec::new())
            } else {
                let change = Change {
                    kind,
                    name,
                    action: Action::Update,
                    detail: format!("changes {}", fields.join(", ")),
                    desired: Some(declared.clone()),
                    version: existing.version + 1,
                };
                (change, breaking(&existing.spec, &declared.spec))
            }
        }
    }
}

/// Refuses when any planned change would break stored data.
pub fn refuse_breaking(refusals: Vec<String>) -> Result<()> {
    if refusals.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::FailedPrecondition,
        problem_list(
            "the change would break stored data; nothing was applied:",
            &refusals,
            refusals.len(),
        ),
    )
    .with_reason(reasons::BREAKING_CHANGE))
}

/// The plan from `stored` to `desired`, or a refusal listing every breaking change.
pub fn plan(desired: &Repository, stored: &[StoredDefinition]) -> Result<Vec<Change>> {
    let current: BTreeMap<(&'static str, &str), &StoredDefinition> = stored
        .iter()
        .map(|s| ((s.spec.kind(), s.spec.name()), s))
        .collect();
    let mut changes = Vec::new();
    let mut refusals = Vec::new();
    for ((kind, name), declared) in &desired.definitions {
        let (change, reasons) = change_for(declared, current.get(&(*kind, name.as_str())).copied());
        changes.push(change);
        refusals.extend(reasons);
    }
    for existing in stored {
        let key = (existing.spec.kind(), existing.spec.name().to_owned());
        if !desired.definitions.contains_key(&key) {
            changes.push(Change {
                kind: existing.spec.kind(),
                name: key.1,
                action: Action::Delete,
                detail: "no longer declared".to_owned(),
                desired: None,
                version: 0,
            });
        }
    }
    refuse_breaking(refusals)?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::spec::{FeatureServiceSpec, LoggingSpec};

    fn service(logging: Option<LoggingSpec>) -> Spec {
        Spec::Service(FeatureServiceSpec {
            name: "driver_activity".to_owned(),
            features: vec!["driver_stats:conv_rate".to_owned()],
            description: String::new(),
            tags: Default::default(),
            owner: String::new(),
            logging,
        })
    }

    #[test]
    fn changing_aggregations_is_refused_and_lateness_is_not() {
        let repo = |aggregations: &str, lateness: &str| {
            let doc = format!(
                "entities:\n  - name: d\n    join_keys: [{{name: id, type: int64}}]\nsources:\n  - name: s\n    file: {{path: s/}}\nfeature_views:\n  - name: v\n    entities: [d]\n    source: s\n{lateness}    aggregations: [{aggregations}]\n"
            );
            crate::definitions::repository::load("p", &[("f.yaml".into(), doc)]).unwrap()
        };
        let stored = |repo: &Repository| -> Vec<StoredDefinition> {
            let now = chrono::Utc::now();
            repo.definitions
                .values()
                .map(|declared| StoredDefinition {
                    spec: declared.spec.clone(),
                    version: 1,
                    origin: "f.yaml".to_owned(),
                    create_time: now,
                    update_time: now,
                })
                .collect()
        };
        let before = stored(&repo("{column: fare, function: sum, window: 1h}", ""));
        let err = plan(&repo("{column: fare, function: sum, window: 2h}", ""), &before).unwrap_err();
        assert_eq!(err.reason, reasons::BREAKING_CHANGE.name);
        assert!(
            err.message
                .contains("aggregations would change from [fare_sum_1h] to [fare_sum_2h]"),
            "{}",
            err.message
        );
        let changes = plan(
            &repo(
                "{column: fare, function: sum, window: 1h}",
                "    allowed_lateness: 5m\n",
            ),
            &before,
        )
        .unwrap();
        let view = changes.iter().find(|c| c.kind == "feature_view").unwrap();
        assert_eq!(
            (view.action, view.detail.as_str()),
            (Action::Update, "changes allowed_lateness")
        );
    }

    #[test]
    fn adding_or_changing_logging_is_a_plain_update() {
        let now = chrono::Utc::now();
        let stored = StoredDefinition {
            spec: service(None),
            version: 3,
            origin: "f.yaml".to_owned(),
            create_time: now,
            update_time: now,
        };
        for rate in [0.1, 1.0] {
            let declared = Declared {
                spec: service(Some(LoggingSpec {
                    monitor: "drift".to_owned(),
                    sample_rate: rate,
                })),
                origin: "f.yaml".to_owned(),
            };
            let (change, refusals) = change_for(&declared, Some(&stored));
            assert_eq!(change.action, Action::Update);
            assert_eq!(change.detail, "changes logging");
            assert_eq!(change.version, 4);
            assert!(refusals.is_empty(), "{refusals:?}");
        }
    }
}
