//! Runs: created in an active experiment, read with their params, tags and latest metrics,
//! renamed or finished, soft-deleted and restored (MLflow's delete), and deleted with their
//! files.

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result, validate};
use lathe_contract::registry::v1 as pb;

use super::{Tracking, now_ms};
use crate::domain::names;
use crate::domain::states::{ACTIVE, DELETED, status_name};
use crate::domain::tags::validate_tags;
use crate::store::runs::{self, RunChange};
use crate::store::tracking::run;

impl Tracking {
    pub async fn create_run(&self, request: pb::CreateRunRequest) -> Result<pb::Run> {
        let experiment = self.experiment(&request.project, &request.experiment_id).await?;
        if experiment.lifecycle_stage != ACTIVE {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "experiment '{}' is deleted; restore it before starting runs",
                    experiment.name
                ),
            )
            .with_reason(reasons::EXPERIMENT_DELETED));
        }
        validate_tags(&request.tags)?;
        names::run_name("name", &request.name)?;
        validate::visible("user_id", &request.user_id)?;
        if request.start_time_ms < 0 {
            return Err(Error::invalid(format!(
                "start_time_ms {} is negative: send milliseconds since the epoch, or 0 for now",
                request.start_time_ms
            )));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let row = run::Model {
            id: id.clone(),
            project: request.project.clone(),
            experiment_id: experiment.id,
            name: if request.name.is_empty() {
                format!("run-{}", &id[..8])
            } else {
                request.name
            },
            status: "RUNNING".to_owned(),
            start_time: if request.start_time_ms > 0 {
                request.start_time_ms
            } else {
                now_ms()
            },
            end_time: None,
            user_id: request.user_id,
            lifecycle_stage: ACTIVE.to_owned(),
            artifact_uri: String::new(),
        };
        let artifact_uri = format!(
            "{}/{}/artifacts",
            self.objects_url.trim_end_matches('/'),
            Tracking::run_prefix(&row)
        );
        let row = run::Model { artifact_uri, ..row };
        runs::create(&self.db, row.clone(), &request.tags).await?;
        self.hydrate_one(row, "created run vanished").await
    }

    pub async fn get_run(&self, reference: pb::RunRef) -> Result<pb::Run> {
        let found = self.run(&reference.project, &reference.run_id).await?;
        self.hydrate_one(found, "run vanished").await
    }

    /// Renames the run, or moves it to a status (a finished, failed or killed run gets its end
    /// time, now unless given).
    pub async fn update_run(&self, request: pb::UpdateRunRequest) -> Result<pb::Run> {
        let found = self.writable_run(&request.project, &request.run_id).await?;
        let started_ms = found.start_time;
        let status =
            pb::RunStatus::try_from(request.status).map_err(|_| Error::invalid("status: unknown value"))?;
        let mut change = RunChange {
            status: None,
            name: None,
        };
        if status != pb::RunStatus::Unspecified {
            let name = status_name(status)?;
            let terminal = matches!(
                status,
                pb::RunStatus::Finished | pb::RunStatus::Failed | pb::RunStatus::Killed
            );
            let end_time = match (terminal, request.end_time_ms) {
                (true, 0) => Some(now_ms()),
                (true, t) if t < started_ms => {
                    return Err(Error::invalid(format!(
                        "end_time_ms {t} is before the run's start_time_ms {started_ms}"
                    )));
                }
                (true, t) => Some(t),
                (false, _) => None,
            };
            change.status = Some((name, end_time));
        }
        if let Some(name) = request.name {
            names::run_name("name", &name)?;
            change.name = Some(name);
        }
        let updated = runs::update(&self.db, found, change).await?;
        self.hydrate_one(updated, "run vanished").await
    }

    /// Deletes the run's rows now and its files in the background.
    pub async fn delete_run(&self, reference: pb::RunRef) -> Result<()> {
        let found = self.run(&reference.project, &reference.run_id).await?;
        runs::delete(&self.db, &found.id, format!("{}/", Tracking::run_prefix(&found))).await?;
        self.cleanup.wake();
        tracing::info!(project = %reference.project, run = %found.id, "run deleted");
        Ok(())
    }
}

impl Tracking {
    /// Soft-deletes the run: it keeps its data, reads as deleted and refuses writes. Deleting
    /// a deleted run changes nothing.
    pub async fn archive_run(&self, reference: pb::RunRef) -> Result<pb::Run> {
        let found = self.run(&reference.project, &reference.run_id).await?;
        let updated = runs::set_stage(&self.db, found, DELETED).await?;
        tracing::info!(project = %reference.project, run = %updated.id, "run soft-deleted");
        self.hydrate_one(updated, "run vanished").await
    }

    /// Restores a soft-deleted run of an active experiment.
    pub async fn restore_run(&self, reference: pb::RunRef) -> Result<pb::Run> {
        let found = self.run(&reference.project, &reference.run_id).await?;
        let experiment = self
            .experiment(&reference.project, &found.experiment_id.to_string())
            .await?;
        if experiment.lifecycle_stage != ACTIVE {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "run '{}' belongs to the deleted experiment '{}'; restore the experiment, which restores its runs",
                    found.id, experiment.name
                ),
            )
            .with_reason(reasons::EXPERIMENT_DELETED));
        }
        let updated = runs::set_stage(&self.db, found, ACTIVE).await?;
        self.hydrate_one(updated, "run vanished").await
    }
}
