//! Stage transitions of versions, judged by the model's promotion gates and written to the
//! audit log.

use std::collections::HashMap;

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result, db};
use lathe_contract::registry::v1 as pb;

use super::{Models, actor_role, actor_subject};
use crate::domain::gates::{self, Gate, Policy, Stage, Transition, parse_stage, stage_from_proto};
use crate::store::audit::{self, AuditEntry};
use crate::store::models::{model, version};
use crate::store::versions;

impl Models {
    /// Moves a version to a stage if the gates allow the actor to; with `archive_existing`,
    /// the versions in Staging or Production before it are archived.
    pub async fn transition_stage(&self, request: pb::TransitionStageRequest) -> Result<pb::ModelVersion> {
        let request = &request;
        let target = stage_from_proto(request.stage)?;
        let (m, updated, current) = db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let v = self.version(&txn, &m, request.version).await?;
            let GateInputs {
                current,
                policies,
                metrics,
            } = GateInputs::of(&m, &v)?;
            let gate = gates::judge(
                &policies,
                &Transition {
                    target,
                    current,
                    metrics: &metrics,
                    actor_role: actor_role(&request.actor),
                },
            );
            gate.require_role()?;
            let unmet = gate.unmet();
            if !unmet.is_empty() {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "version {} of '{}' cannot move to {}: unmet: {}",
                        v.version,
                        m.name,
                        target.name(),
                        unmet.join("; ")
                    ),
                )
                .with_reason(reasons::PROMOTION_GATE_FAILED));
            }
            if request.archive_existing && matches!(target, Stage::Staging | Stage::Production) {
                for other in versions::others_in_stage(&txn, m.id, target, v.version).await? {
                    let number = other.version;
                    versions::set_stage(&txn, other, Stage::Archived).await?;
                    let reason = format!("archived when version {} moved to {}", v.version, target.name());
                    let actor = actor_subject(&request.actor);
                    let moved = StageMove {
                        model_id: m.id,
                        version: number,
                        from: target,
                        to: Stage::Archived,
                    };
                    moved.record(&txn, actor, &reason).await?;
                }
            }
            let number = v.version;
            let updated = versions::set_stage(&txn, v, target).await?;
            let moved = StageMove {
                model_id: m.id,
                version: number,
                from: current,
                to: target,
            };
            moved
                .record(&txn, actor_subject(&request.actor), &request.reason)
                .await?;
            txn.commit().await?;
            Ok((m, updated, current))
        })
        .await?;
        let number = updated.version;
        tracing::info!(model = %m.name, version = number, from = current.name(), to = target.name(), "stage changed");
        self.one_version_to_proto(&m, updated).await
    }
}

impl Models {
    /// Every gate of the version's model, judged now for the actor by the code that decides
    /// [`Models::transition_stage`]; changes nothing.
    pub async fn evaluate_gates(
        &self,
        request: pb::EvaluateGatesRequest,
    ) -> Result<pb::EvaluateGatesResponse> {
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let v = self.version(self.db(), &m, request.version).await?;
        let inputs = GateInputs::of(&m, &v)?;
        let gates = gates::judge_every_gate(
            &inputs.policies,
            inputs.current,
            &inputs.metrics,
            actor_role(&request.actor),
        );
        Ok(pb::EvaluateGatesResponse {
            gates: gates.iter().map(Gate::to_proto).collect(),
        })
    }
}

/// What a model's gates judge a version on, read from the stored rows.
struct GateInputs {
    current: Stage,
    policies: Vec<Policy>,
    metrics: HashMap<String, f64>,
}

impl GateInputs {
    fn of(m: &model::Model, v: &version::Model) -> Result<GateInputs> {
        Ok(GateInputs {
            current: parse_stage(&v.stage)?,
            policies: serde_json::from_value(m.policies.clone()).unwrap_or_default(),
            metrics: serde_json::from_value(v.metrics.clone()).unwrap_or_default(),
        })
    }
}

/// One version's move between stages, as the audit log records it.
struct StageMove {
    model_id: i64,
    version: i64,
    from: Stage,
    to: Stage,
}

impl StageMove {
    async fn record(self, txn: &sea_orm::DatabaseTransaction, actor: String, reason: &str) -> Result<()> {
        let entry = AuditEntry {
            model_id: self.model_id,
            version: self.version,
            action: "stage_transition",
            from: self.from.name().into(),
            to: self.to.name().into(),
            actor,
            reason,
        };
        audit::record(txn, entry).await
    }
}
