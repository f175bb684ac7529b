//! Stages and promotion gates. A model declares policies such as "Staging requires
//! metrics.accuracy >= 0.9" or "Production requires role admin, metrics.auc > 0.85 and the
//! version in Staging"; the server evaluates them on every transition and reports each unmet
//! condition. Without a policy that names a role, Production needs an admin.

use std::collections::HashMap;

use lathe_common::auth::Role;
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::json::JsonEnum;
use lathe_contract::registry::v1 as pb;
use serde::{Deserialize, Serialize};

/// A version's stage: the contract's enum, stored (in versions and in policies) under its JSON
/// name, `None`, `Staging`, `Production` or `Archived`.
pub use pb::Stage;

/// Parses a stored or user-given stage name, case-insensitively.
pub fn parse_stage(text: &str) -> Result<Stage> {
    Stage::from_json_name(text).ok_or_else(|| {
        Error::invalid(format!(
            "invalid stage '{text}': use one of None, Staging, Production, Archived"
        ))
    })
}

/// A stage as a message carries it.
pub fn stage_from_proto(stage: i32) -> Result<Stage> {
    Stage::try_from(stage).map_err(|_| Error::invalid(format!("invalid stage {stage}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl CmpOp {
    pub fn parse(text: &str) -> Result<CmpOp> {
        match text {
            ">" => Ok(CmpOp::Gt),
            ">=" => Ok(CmpOp::Ge),
            "<" => Ok(CmpOp::Lt),
            "<=" => Ok(CmpOp::Le),
            "=" | "==" => Ok(CmpOp::Eq),
            "!=" => Ok(CmpOp::Ne),
            other => Err(Error::invalid(format!(
                "invalid comparison '{other}': use >, >=, <, <=, = or !="
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Metric { key: String, op: CmpOp, value: f64 },
    Role(Role),
    CurrentStage(Stage),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub stage: Stage,
    pub conditions: Vec<Condition>,
}

impl Policy {
    pub fn from_proto(policy: &pb::PromotionPolicy, index: usize) -> Result<Policy> {
        let stage = stage_from_proto(policy.stage)?;
        if policy.conditions.is_empty() {
            return Err(Error::invalid(format!(
                "policies[{index}]: a policy needs at least one condition"
            )));
        }
        let conditions = policy
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = format!("policies[{index}].conditions[{i}]");
                match &c.condition {
                    Some(pb::gate_condition::Condition::Metric(m)) => {
                        if m.key.is_empty() || !m.value.is_finite() {
                            return Err(Error::invalid(format!(
                                "{at}: a metric condition needs a key and a finite value"
                            )));
                        }
                        Ok(Condition::Metric {
                            key: m.key.clone(),
                            op: CmpOp::parse(&m.op)?,
                            value: m.value,
                        })
                    }
                    Some(pb::gate_condition::Condition::Role(role)) => Ok(Condition::Role(
                        role.parse()
                            .map_err(|e: String| Error::invalid(format!("{at}: {e}")))?,
                    )),
                    Some(pb::gate_condition::Condition::CurrentStage(stage)) => {
                        Ok(Condition::CurrentStage(stage_from_proto(*stage)?))
                    }
                    None => Err(Error::invalid(format!(
                        "{at}: set one of metric, role, current_stage"
                    ))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Policy { stage, conditions })
    }

    pub fn to_proto(&self) -> pb::PromotionPolicy {
        use pb::gate_condition::Condition as C;
        pb::PromotionPolicy {
            stage: self.stage.into(),
            conditions: self
                .conditions
                .iter()
                .map(|c| pb::GateCondition {
                    condition: Some(match c {
                        Condition::Metric { key, op, value } => C::Metric(pb::MetricCondition {
                            key: key.clone(),
                            op: op.as_str().to_owned(),
                            value: *value,
                        }),
                        Condition::Role(role) => C::Role(role.as_str().to_owned()),
                        Condition::CurrentStage(stage) => C::CurrentStage((*stage).into()),
                    }),
                })
                .collect(),
        }
    }
}

/// What a transition is judged on.
pub struct Transition<'a> {
    pub target: Stage,
    pub current: Stage,
    pub metrics: &'a HashMap<String, f64>,
    pub actor_role: Option<Role>,
}

/// The role moving a version to `target` needs: the highest one the stage's policies name,
/// else admin for Production, else none beyond what the API asks of any writer.
pub fn role_needed(policies: &[Policy], target: Stage) -> Option<Role> {
    let named = policies
        .iter()
        .filter(|p| p.stage == target)
        .flat_map(|p| &p.conditions)
        .filter_map(|c| match c {
            Condition::Role(role) => Some(*role),
            Condition::Metric { .. } | Condition::CurrentStage(_) => None,
        })
        .max();
    named.or((target == Stage::Production).then_some(Role::Admin))
}

/// Refuses with 403 `role_too_low` when the caller's role is below what `target` needs. Judged
/// before the other conditions: a caller without the role can do nothing about them, and
/// should hear whom to ask instead.
pub fn require_role(policies: &[Policy], target: Stage, actor_role: Option<Role>) -> Result<()> {
    match role_needed(policies, target) {
        Some(needed) if actor_role.is_none_or(|role| role < needed) => Err(Error::new(
            ErrorCode::PermissionDenied,
            format!(
                "moving a version to {} needs role '{}'; the caller has {}",
                target.name(),
                needed.as_str(),
                actor_role.map_or("no role", Role::as_str)
            ),
        )
        .with_reason(reasons::ROLE_TOO_LOW)),
        _ => Ok(()),
    }
}

/// Each unmet condition, in words; empty means the transition may proceed.
pub fn unmet_conditions(policies: &[Policy], transition: &Transition<'_>) -> Vec<String> {
    let mut unmet = Vec::new();
    let applicable: Vec<&Policy> = policies.iter().filter(|p| p.stage == transition.target).collect();
    let policy_names_role = applicable
        .iter()
        .any(|p| p.conditions.iter().any(|c| matches!(c, Condition::Role(_))));
    if transition.target == Stage::Production && !policy_names_role {
        check_role(Role::Admin, transition.actor_role, &mut unmet);
    }
    for policy in applicable {
        for condition in &policy.conditions {
            match condition {
                Condition::Metric { key, op, value } => match transition.metrics.get(key) {
                    Some(actual) if op.holds(*actual, *value) => {}
                    Some(actual) => {
                        unmet.push(format!("metrics.{key} {} {value} (is {actual})", op.as_str()))
                    }
                    None => unmet.push(format!(
                        "metrics.{key} {} {value} (the version has no such metric)",
                        op.as_str()
                    )),
                },
                Condition::Role(role) => check_role(*role, transition.actor_role, &mut unmet),
                Condition::CurrentStage(stage) => {
                    if transition.current != *stage {
                        unmet.push(format!(
                            "version in {} (it is in {})",
                            stage.name(),
                            transition.current.name()
                        ));
                    }
                }
            }
        }
    }
    unmet
}

fn check_role(needed: Role, actual: Option<Role>, unmet: &mut Vec<String>) {
    if actual.is_none_or(|role| role < needed) {
        let has = actual.map_or("no role", Role::as_str);
        unmet.push(format!("role {} (the caller is {has})", needed.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging_policy() -> Vec<Policy> {
        vec![
            Policy {
                stage: Stage::Staging,
                conditions: vec![Condition::Metric {
                    key: "accuracy".into(),
                    op: CmpOp::Ge,
                    value: 0.9,
                }],
            },
            Policy {
                stage: Stage::Production,
                conditions: vec![
                    Condition::Role(Role::Admin),
                    Condition::Metric {
                        key: "auc".into(),
                        op: CmpOp::Gt,
                        value: 0.85,
                    },
                    Condition::CurrentStage(Stage::Staging),
                ],
            },
        ]
    }

    #[test]
    fn each_unmet_condition_is_listed() {
        let metrics = HashMap::from([("accuracy".to_owned(), 0.8), ("auc".to_owned(), 0.8)]);
        let to_staging = Transition {
            target: Stage::Staging,
            current: Stage::None,
            metrics: &metrics,
            actor_role: Some(Role::Editor),
        };
        assert_eq!(
            unmet_conditions(&staging_policy(), &to_staging),
            ["metrics.accuracy >= 0.9 (is 0.8)"]
        );
        let to_prod = Transition {
            target: Stage::Production,
            current: Stage::None,
            metrics: &metrics,
            actor_role: Some(Role::Editor),
        };
        let unmet = unmet_conditions(&staging_policy(), &to_prod);
        assert_eq!(unmet.len(), 3, "{unmet:?}");
        assert!(unmet[0].starts_with("role admin"));
    }

    #[test]
    fn production_needs_admin_without_a_role_policy() {
        let metrics = HashMap::new();
        let editor = Transition {
            target: Stage::Production,
            current: Stage::Staging,
            metrics: &metrics,
            actor_role: Some(Role::Editor),
        };
        assert_eq!(unmet_conditions(&[], &editor).len(), 1);
        let admin = Transition {
            actor_role: Some(Role::Admin),
            ..editor
        };
        assert!(unmet_conditions(&[], &admin).is_empty());
        // A policy may delegate Production to editors.
        let delegated = [Policy {
            stage: Stage::Production,
            conditions: vec![Condition::Role(Role::Editor)],
        }];
        let editor = Transition {
            actor_role: Some(Role::Editor),
            ..admin
        };
        assert!(unmet_conditions(&delegated, &editor).is_empty());
    }

    #[test]
    fn the_role_a_stage_needs_comes_from_its_policies() {
        assert_eq!(role_needed(&[], Stage::Production), Some(Role::Admin));
        assert_eq!(role_needed(&[], Stage::Staging), None);
        assert_eq!(role_needed(&staging_policy(), Stage::Staging), None);
        let delegated = [Policy {
            stage: Stage::Production,
            conditions: vec![Condition::Role(Role::Editor)],
        }];
        assert_eq!(role_needed(&delegated, Stage::Production), Some(Role::Editor));
        // A role named for Staging makes Staging need it too.
        let guarded = [Policy {
            stage: Stage::Staging,
            conditions: vec![Condition::Role(Role::Admin)],
        }];
        assert_eq!(role_needed(&guarded, Stage::Staging), Some(Role::Admin));
    }

    #[test]
    fn a_role_too_low_is_refused_with_403_naming_the_role() {
        let err = require_role(&staging_policy(), Stage::Production, Some(Role::Editor)).unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied);
        assert_eq!(err.reason, "role_too_low");
        assert_eq!(
            err.message,
            "moving a version to Production needs role 'admin'; the caller has editor"
        );
        let err = require_role(&[], Stage::Production, None).unwrap_err();
        assert!(err.message.ends_with("the caller has no role"), "{err}");
        require_role(&staging_policy(), Stage::Production, Some(Role::Admin)).unwrap();
        require_role(&staging_policy(), Stage::Staging, Some(Role::Viewer)).unwrap();
    }

    #[test]
    fn missing_metrics_fail_their_condition() {
        let metrics = HashMap::new();
        let t = Transition {
            target: Stage::Staging,
            current: Stage::None,
            metrics: &metrics,
            actor_role: Some(Role::Admin),
        };
        assert!(unmet_conditions(&staging_policy(), &t)[0].contains("no such metric"));
    }

    #[test]
    fn policies_round_trip_through_proto_and_json() {
        for (i, policy) in staging_policy().iter().enumerate() {
            assert_eq!(&Policy::from_proto(&policy.to_proto(), i).unwrap(), policy);
            let json = serde_json::to_value(policy).unwrap();
            assert_eq!(&serde_json::from_value::<Policy>(json).unwrap(), policy);
        }
    }
}
