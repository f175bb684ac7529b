//! Stages and promotion gates. A model declares policies such as "Staging requires
//! metrics.accuracy >= 0.9" or "Production requires role admin, metrics.auc > 0.85 and the
//! version in Staging"; the server evaluates them on every transition and reports each unmet
//! condition, and a dry run ([`judge_every_gate`]) reports them through the same [`judge`].
//! Without a policy that names a role, Production needs an admin.

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
        let stage = stage_from_proto(policy.stage).map_err(|e| e.at(format!("policies[{index}].stage")))?;
        if policy.conditions.is_empty() {
            return Err(Error::invalid(format!(
                "policies[{index}]: a policy needs at least one condition"
            ))
            .at(format!("policies[{index}].conditions")));
        }
        let conditions = policy
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = format!("policies[{index}].conditions[{i}]");
                match &c.condition {
                    Some(pb::gate_condition::Condition::Metric(m)) => {
                        if m.key.is_empty() {
                            return Err(Error::invalid(format!(
                                "{at}: a metric condition needs the metric's key"
                            ))
                            .at(format!("{at}.metric.key")));
                        }
                        if !m.value.is_finite() {
                            return Err(Error::invalid(format!(
                                "{at}: a metric condition needs a finite value"
                            ))
                            .at(format!("{at}.metric.value")));
                        }
                        Ok(Condition::Metric {
                            key: m.key.clone(),
                            op: CmpOp::parse(&m.op).map_err(|e| e.at(format!("{at}.metric.op")))?,
                            value: m.value,
                        })
                    }
                    Some(pb::gate_condition::Condition::Role(role)) => {
                        Ok(Condition::Role(role.parse().map_err(|e: String| {
                            Error::invalid(format!("{at}: {e}")).at(format!("{at}.role"))
                        })?))
                    }
                    Some(pb::gate_condition::Condition::CurrentStage(stage)) => Ok(Condition::CurrentStage(
                        stage_from_proto(*stage).map_err(|e| e.at(format!("{at}.current_stage")))?,
                    )),
                    None => Err(
                        Error::invalid(format!("{at}: set one of metric, role, current_stage"))
                            .at(at.clone()),
                    ),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Policy { stage, conditions })
    }

    pub fn to_proto(&self) -> pb::PromotionPolicy {
        pb::PromotionPolicy {
            stage: self.stage.into(),
            conditions: self.conditions.iter().map(Condition::to_proto).collect(),
        }
    }
}

impl Condition {
    pub fn to_proto(&self) -> pb::GateCondition {
        use pb::gate_condition::Condition as C;
        pb::GateCondition {
            condition: Some(match self {
                Condition::Metric { key, op, value } => C::Metric(pb::MetricCondition {
                    key: key.clone(),
                    op: op.as_str().to_owned(),
                    value: *value,
                }),
                Condition::Role(role) => C::Role(role.as_str().to_owned()),
                Condition::CurrentStage(stage) => C::CurrentStage((*stage).into()),
            }),
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

/// The conditions of the gate into `target`: every policy's for that stage, after Production's
/// implied admin (`true`) when none of them names a role.
fn gate_conditions(policies: &[Policy], target: Stage) -> Vec<(Condition, bool)> {
    let stated: Vec<&Condition> = policies
        .iter()
        .filter(|p| p.stage == target)
        .flat_map(|p| &p.conditions)
        .collect();
    let names_role = stated.iter().any(|c| matches!(c, Condition::Role(_)));
    let implied =
        (target == Stage::Production && !names_role).then_some((Condition::Role(Role::Admin), true));
    implied
        .into_iter()
        .chain(stated.into_iter().map(|c| (c.clone(), false)))
        .collect()
}

/// The role moving a version to `target` needs: the highest one the stage's policies name,
/// else admin for Production, else none beyond what the API asks of any writer.
pub fn role_needed(policies: &[Policy], target: Stage) -> Option<Role> {
    gate_conditions(policies, target)
        .into_iter()
        .filter_map(|(c, _)| match c {
            Condition::Role(role) => Some(role),
            Condition::Metric { .. } | Condition::CurrentStage(_) => None,
        })
        .max()
}

/// One condition of a gate, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub condition: Condition,
    /// Stated by no policy: Production's admin when no policy for Production names a role.
    pub implied: bool,
    pub passed: bool,
    /// Why it passed or failed, for a person: "accuracy is 0.934, needs > 0.9".
    pub reason: String,
    /// The condition as a refused transition lists it among the unmet ones.
    unmet: String,
}

impl Check {
    fn judge(condition: Condition, implied: bool, transition: &Transition<'_>) -> Check {
        let (passed, reason, unmet) = match &condition {
            Condition::Metric { key, op, value } => {
                let sign = op.as_str();
                match transition.metrics.get(key) {
                    Some(actual) => (
                        op.holds(*actual, *value),
                        format!("{key} is {actual}, needs {sign} {value}"),
                        format!("metrics.{key} {sign} {value} (is {actual})"),
                    ),
                    None => (
                        false,
                        format!("metric {key} was not logged for this version"),
                        format!("metrics.{key} {sign} {value} (the version has no such metric)"),
                    ),
                }
            }
            Condition::Role(needed) => {
                let actual = transition.actor_role;
                let you =
                    actual.map_or_else(|| "you have no role".to_owned(), |role| format!("you are {role}"));
                let reason = if implied {
                    format!(
                        "{} needs role {needed} when no policy for it names a role, {you}",
                        transition.target.name()
                    )
                } else {
                    format!("needs role {needed}, {you}")
                };
                let has = actual.map_or("no role", Role::as_str);
                (
                    actual.is_some_and(|role| role >= *needed),
                    reason,
                    format!("role {needed} (the caller is {has})"),
                )
            }
            Condition::CurrentStage(stage) => (
                transition.current == *stage,
                format!(
                    "version is in {}, needs {}",
                    transition.current.name(),
                    stage.name()
                ),
                format!(
                    "version in {} (it is in {})",
                    stage.name(),
                    transition.current.name()
                ),
            ),
        };
        Check {
            condition,
            implied,
            passed,
            reason,
            unmet,
        }
    }

    pub fn to_proto(&self) -> pb::ConditionResult {
        pb::ConditionResult {
            condition: Some(self.condition.to_proto()),
            passed: self.passed,
            reason: self.reason.clone(),
            implied: self.implied,
        }
    }
}

/// The gate into one stage, judged for one version and caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub stage: Stage,
    pub checks: Vec<Check>,
    actor_role: Option<Role>,
}

impl Gate {
    /// Every condition holds: the transition may proceed.
    pub fn allowed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Refuses with 403 `role_too_low` when a role condition fails. A transition hears this
    /// before the other conditions: a caller without the role can do nothing about them, and
    /// should hear whom to ask instead.
    pub fn require_role(&self) -> Result<()> {
        let needed = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .filter_map(|c| match c.condition {
                Condition::Role(role) => Some(role),
                Condition::Metric { .. } | Condition::CurrentStage(_) => None,
            })
            .max();
        match needed {
            Some(needed) => Err(Error::new(
                ErrorCode::PermissionDenied,
                format!(
                    "moving a version to {} needs role '{}'; the caller has {}",
                    self.stage.name(),
                    needed.as_str(),
                    self.actor_role.map_or("no role", Role::as_str)
                ),
            )
            .with_reason(reasons::ROLE_TOO_LOW)),
            None => Ok(()),
        }
    }

    /// Each unmet condition, in words; empty means the transition may proceed.
    pub fn unmet(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.unmet.clone())
            .collect()
    }

    pub fn to_proto(&self) -> pb::StageGate {
        pb::StageGate {
            stage: self.stage.into(),
            allowed: self.allowed(),
            conditions: self.checks.iter().map(Check::to_proto).collect(),
        }
    }
}

/// The gate into `transition.target`, each of its conditions judged: what decides a
/// transition, and what a dry run reports.
pub fn judge(policies: &[Policy], transition: &Transition<'_>) -> Gate {
    Gate {
        stage: transition.target,
        checks: gate_conditions(policies, transition.target)
            .into_iter()
            .map(|(condition, implied)| Check::judge(condition, implied, transition))
            .collect(),
        actor_role: transition.actor_role,
    }
}

/// Every gate of a model, in stage order, judged for a version in `current` with `metrics`
/// and a caller with `actor_role`: the stages its policies name, and Production, which always
/// has a gate. A stage left out has none.
pub fn judge_every_gate(
    policies: &[Policy],
    current: Stage,
    metrics: &HashMap<String, f64>,
    actor_role: Option<Role>,
) -> Vec<Gate> {
    let mut stages: Vec<Stage> = policies
        .iter()
        .map(|p| p.stage)
        .chain([Stage::Production])
        .collect();
    stages.sort();
    stages.dedup();
    stages
        .into_iter()
        .map(|target| {
            let transition = Transition {
                target,
                current,
                metrics,
                actor_role,
            };
            judge(policies, &transition)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmet_conditions(policies: &[Policy], transition: &Transition<'_>) -> Vec<String> {
        judge(policies, transition).unmet()
    }

    /// The role check alone: no condition a role check reads depends on the version.
    fn require_role(policies: &[Policy], target: Stage, actor_role: Option<Role>) -> Result<()> {
        let transition = Transition {
            target,
            current: Stage::None,
            metrics: &HashMap::new(),
            actor_role,
        };
        judge(policies, &transition).require_role()
    }

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

    /// A gate of a dry run as (stage, allowed, [(passed, reason)]).
    type GateSummary = (Stage, bool, Vec<(bool, String)>);

    /// Each gate of a dry run, summarized.
    fn dry_run(
        policies: &[Policy],
        current: Stage,
        metrics: &[(&str, f64)],
        actor_role: Option<Role>,
    ) -> Vec<GateSummary> {
        let metrics: HashMap<String, f64> = metrics.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        judge_every_gate(policies, current, &metrics, actor_role)
            .into_iter()
            .map(|gate| {
                let checks = gate.checks.iter().map(|c| (c.passed, c.reason.clone())).collect();
                (gate.stage, gate.allowed(), checks)
            })
            .collect()
    }

    fn checks(items: &[(bool, &str)]) -> Vec<(bool, String)> {
        items
            .iter()
            .map(|(passed, reason)| (*passed, (*reason).to_owned()))
            .collect()
    }

    #[test]
    fn a_dry_run_reports_each_gate_with_a_reason_per_condition() {
        let report = dry_run(
            &staging_policy(),
            Stage::None,
            &[("accuracy", 0.934), ("auc", 0.8)],
            Some(Role::Editor),
        );
        assert_eq!(
            report,
            [
                (
                    Stage::Staging,
                    true,
                    checks(&[(true, "accuracy is 0.934, needs >= 0.9")])
                ),
                (
                    Stage::Production,
                    false,
                    checks(&[
                        (false, "needs role admin, you are editor"),
                        (false, "auc is 0.8, needs > 0.85"),
                        (false, "version is in None, needs Staging"),
                    ])
                ),
            ]
        );
    }

    #[test]
    fn a_dry_run_fails_a_metric_below_its_threshold_or_never_logged() {
        let below = dry_run(
            &staging_policy(),
            Stage::None,
            &[("accuracy", 0.8)],
            Some(Role::Admin),
        );
        assert_eq!(
            below[0],
            (
                Stage::Staging,
                false,
                checks(&[(false, "accuracy is 0.8, needs >= 0.9")])
            )
        );
        let missing = dry_run(&staging_policy(), Stage::None, &[("f1", 0.99)], Some(Role::Admin));
        assert_eq!(
            missing[0],
            (
                Stage::Staging,
                false,
                checks(&[(false, "metric accuracy was not logged for this version")])
            )
        );
    }

    #[test]
    fn a_dry_run_judges_role_conditions_by_the_callers_role() {
        let admins_only = [Policy {
            stage: Stage::Staging,
            conditions: vec![Condition::Role(Role::Admin)],
        }];
        let gate_for = |role| dry_run(&admins_only, Stage::None, &[], role).remove(0);
        assert_eq!(
            gate_for(Some(Role::Viewer)),
            (
                Stage::Staging,
                false,
                checks(&[(false, "needs role admin, you are viewer")])
            )
        );
        assert_eq!(
            gate_for(Some(Role::Admin)),
            (
                Stage::Staging,
                true,
                checks(&[(true, "needs role admin, you are admin")])
            )
        );
        assert_eq!(
            gate_for(None).2,
            checks(&[(false, "needs role admin, you have no role")])
        );
    }

    #[test]
    fn a_dry_run_judges_the_current_stage() {
        let from_staging = [Policy {
            stage: Stage::Production,
            conditions: vec![
                Condition::Role(Role::Editor),
                Condition::CurrentStage(Stage::Staging),
            ],
        }];
        let staged = dry_run(&from_staging, Stage::Staging, &[], Some(Role::Editor));
        assert_eq!(
            staged,
            [(
                Stage::Production,
                true,
                checks(&[
                    (true, "needs role editor, you are editor"),
                    (true, "version is in Staging, needs Staging"),
                ])
            )]
        );
        let fresh = dry_run(&from_staging, Stage::None, &[], Some(Role::Editor));
        assert!(!fresh[0].1, "{fresh:?}");
        assert_eq!(
            fresh[0].2[1],
            (false, "version is in None, needs Staging".to_owned())
        );
    }

    #[test]
    fn production_always_has_a_gate_and_other_stages_only_with_a_policy() {
        // No policies: Staging and Archived have no gate; Production needs an admin.
        let editor = dry_run(&[], Stage::Staging, &[], Some(Role::Editor));
        assert_eq!(
            editor,
            [(
                Stage::Production,
                false,
                checks(&[(
                    false,
                    "Production needs role admin when no policy for it names a role, you are editor"
                )])
            )]
        );
        let metrics = HashMap::new();
        let gates = judge_every_gate(&[], Stage::Staging, &metrics, Some(Role::Admin));
        assert!(gates[0].allowed());
        assert!(gates[0].checks[0].implied);
        assert_eq!(
            gates[0].to_proto().conditions[0].condition,
            Some(Condition::Role(Role::Admin).to_proto())
        );
        // Two policies for one stage make one gate of all their conditions.
        let split = [
            Policy {
                stage: Stage::Staging,
                conditions: vec![Condition::CurrentStage(Stage::None)],
            },
            Policy {
                stage: Stage::Staging,
                conditions: vec![Condition::Role(Role::Editor)],
            },
        ];
        let report = dry_run(&split, Stage::None, &[], Some(Role::Viewer));
        assert_eq!(report.len(), 2, "{report:?}");
        assert_eq!(
            (report[0].0, report[0].1, report[0].2.len()),
            (Stage::Staging, false, 2)
        );
    }

    mod agreement {
        use proptest::prelude::*;

        use super::super::*;

        const STAGES: [Stage; 4] = [Stage::None, Stage::Staging, Stage::Production, Stage::Archived];

        fn stage() -> impl Strategy<Value = Stage> {
            prop::sample::select(STAGES.to_vec())
        }

        fn role() -> impl Strategy<Value = Role> {
            prop::sample::select(Role::ALL.to_vec())
        }

        fn condition() -> impl Strategy<Value = Condition> {
            let op = prop::sample::select(vec![
                CmpOp::Gt,
                CmpOp::Ge,
                CmpOp::Lt,
                CmpOp::Le,
                CmpOp::Eq,
                CmpOp::Ne,
            ]);
            prop_oneof![
                (prop::sample::select(vec!["auc", "f1"]), op, 0..3u8).prop_map(|(key, op, v)| {
                    Condition::Metric {
                        key: key.to_owned(),
                        op,
                        value: f64::from(v) / 2.0,
                    }
                }),
                role().prop_map(Condition::Role),
                stage().prop_map(Condition::CurrentStage),
            ]
        }

        fn policy() -> impl Strategy<Value = Policy> {
            (stage(), prop::collection::vec(condition(), 1..4))
                .prop_map(|(stage, conditions)| Policy { stage, conditions })
        }

        proptest! {
            /// A dry run's `allowed` for a stage is what a transition there decides (no gate
            /// reported means nothing refuses it), and its conditions are the transition's.
            #[test]
            fn a_dry_run_agrees_with_the_transition_for_every_stage(
                policies in prop::collection::vec(policy(), 0..4),
                current in stage(),
                auc in prop::option::of(0..3u8),
                actor_role in prop::option::of(role()),
            ) {
                let metrics: HashMap<String, f64> =
                    auc.map(|v| ("auc".to_owned(), f64::from(v) / 2.0)).into_iter().collect();
                let report = judge_every_gate(&policies, current, &metrics, actor_role);
                for target in STAGES {
                    let gate = judge(&policies, &Transition { target, current, metrics: &metrics, actor_role });
                    let transition_passes = gate.require_role().is_ok() && gate.unmet().is_empty();
                    match report.iter().find(|g| g.stage == target) {
                        Some(dry) => {
                            prop_assert_eq!(dry.allowed(), transition_passes);
                            prop_assert_eq!(dry, &gate);
                        }
                        None => {
                            prop_assert!(transition_passes);
                            prop_assert!(gate.checks.is_empty());
                        }
                    }
                }
            }
        }
    }
}
