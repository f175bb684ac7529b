//! Task instances as workers see them: claimed with a lease (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`, so two workers never take the same one; SQLite has one writer), kept by a
//! heartbeat, finished with their outcome in the same transaction as the run's next step. A
//! lease that expires (its worker died) makes the task eligible again, counting as a try.

use std::time::Duration;

use lathe_common::{Result, db};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel,
    QueryFilter, Set, Statement,
};
use serde_json::{Map, Value as Json};

use super::runs::{Runs, lock_run};
use super::states::TaskState;
use crate::definition::Pipeline;
use crate::store::tables::task;

/// A task instance a worker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub run_id: String,
    pub task_id: String,
    pub project: String,
    pub try_number: i32,
    pub max_tries: i32,
    pub worker: String,
}

/// How a try ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success(Map<String, Json>),
    Failure(String),
}

impl Runs {
    /// Claims the oldest queued task instance (or one up for retry whose backoff is over).
    pub async fn claim(&self, worker: &str, lease_ms: i64, now: i64) -> Result<Option<Claimed>> {
        let db = self.pipelines.db();
        let backend = db.get_database_backend();
        let lock = if backend == DatabaseBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE orchestrator_task_instances SET state = 'running', try_number = try_number + 1, \
             worker = {p1}, lease_expires = {p2}, start_time = {p3}, retry_time = NULL, end_time = NULL, message = '' \
             WHERE (run_id, task_id) IN (SELECT run_id, task_id FROM orchestrator_task_instances \
             WHERE state = 'queued' OR (state = 'up_for_retry' AND retry_time <= {p4}) \
             ORDER BY queued_time LIMIT 1{lock}) \
             RETURNING run_id, task_id, project, try_number, max_tries",
            p1 = placeholder(backend, 1),
            p2 = placeholder(backend, 2),
            p3 = placeholder(backend, 3),
            p4 = placeholder(backend, 4),
        );
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [worker.into(), (now + lease_ms).into(), now.into(), now.into()],
        );
        let Some(row) = db.query_one_raw(statement).await? else {
            return Ok(None);
        };
        Ok(Some(Claimed {
            run_id: row.try_get("", "run_id")?,
            task_id: row.try_get("", "task_id")?,
            project: row.try_get("", "project")?,
            try_number: row.try_get("", "try_number")?,
            max_tries: row.try_get("", "max_tries")?,
            worker: worker.to_owned(),
        }))
    }

    /// Extends the lease; false when the try is no longer this worker's (the run was
    /// cancelled, or the lease expired and the task went elsewhere): the worker stops it.
    pub async fn heartbeat(&self, claimed: &Claimed, lease_ms: i64, now: i64) -> Result<bool> {
        let updated = task::Entity::update_many()
            .col_expr(task::Column::LeaseExpires, Some(now + lease_ms).into())
            .filter(owned_by(claimed))
            .exec(self.pipelines.db())
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Records how the try ended and takes the run its next step, in one transaction. A
    /// failure with tries left is up for retry after the task's backoff. Nothing is recorded
    /// when the try is no longer this worker's.
    pub async fn complete(
        &self,
        claimed: &Claimed,
        outcome: &Outcome,
        pipeline: &Pipeline,
        now: i64,
    ) -> Result<()> {
        let retry_delay =
            pipeline
                .tasks
                .iter()
                .find(|t| t.id == claimed.task_id)
                .map_or(Duration::ZERO, |t| {
                    t.retries
                        .delay_before(u32::try_from(claimed.try_number).unwrap_or(1))
                });
        self.record(claimed, outcome, retry_delay, now).await
    }

    /// [`Runs::complete`] with the backoff before a retry given.
    async fn record(
        &self,
        claimed: &Claimed,
        outcome: &Outcome,
        retry_delay: Duration,
        now: i64,
    ) -> Result<()> {
        let db = self.pipelines.db();
        let recorded = db::retry_conflicts(|| async {
            let txn = db::begin_write(db).await?;
            // The run's row first, as every step takes it: steps never interleave.
            lock_run(&txn, &claimed.run_id).await?;
            let Some(found) = task::Entity::find().filter(owned_by(claimed)).one(&txn).await? else {
                return Ok(false);
            };
            let mut row = found.into_active_model();
            row.lease_expires = Set(None);
            match outcome {
                Outcome::Success(outputs) => {
                    row.state = Set(TaskState::Success.as_str().to_owned());
                    row.outputs = Set(Json::Object(outputs.clone()).to_string());
                    row.end_time = Set(Some(now));
                }
                Outcome::Failure(message) if claimed.try_number < claimed.max_tries => {
                    let delay = i64::try_from(retry_delay.as_millis()).unwrap_or(i64::MAX / 4);
                    row.state = Set(TaskState::UpForRetry.as_str().to_owned());
                    row.retry_time = Set(Some(now + delay));
                    row.message = Set(format!("try {} failed: {message}", claimed.try_number));
                }
                Outcome::Failure(message) => {
                    row.state = Set(TaskState::Failed.as_str().to_owned());
                    row.message = Set(message.clone());
                    row.end_time = Set(Some(now));
                }
            }
            row.update(&txn).await?;
            txn.commit().await?;
            Ok(true)
        })
        .await?;
        if recorded {
            self.advance(&claimed.run_id, now).await?;
        }
        Ok(())
    }

    /// Takes back the tries whose lease expired (their worker died or hung): each counts as
    /// a try, and is up for retry at once if the task has tries left, else failed.
    pub async fn expire_leases(&self, now: i64) -> Result<usize> {
        let expired = task::Entity::find()
            .filter(task::Column::State.eq(TaskState::Running.as_str()))
            .filter(task::Column::LeaseExpires.lt(now))
            .all(self.pipelines.db())
            .await?;
        let mut taken = 0;
        for instance in expired {
            let claimed = Claimed {
                run_id: instance.run_id.clone(),
                task_id: instance.task_id.clone(),
                project: instance.project.clone(),
                try_number: instance.try_number,
                max_tries: instance.max_tries,
                worker: instance.worker.clone(),
            };
            let message = format!(
                "worker '{}' stopped renewing its lease (killed or cut off)",
                instance.worker
            );
            // No backoff: the task did not fail, its worker went away.
            self.record(&claimed, &Outcome::Failure(message), Duration::ZERO, now)
                .await?;
            taken += 1;
        }
        Ok(taken)
    }
}

/// The row of this try, while it is still running under this worker.
fn owned_by(claimed: &Claimed) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(task::Column::RunId.eq(claimed.run_id.as_str()))
        .add(task::Column::TaskId.eq(claimed.task_id.as_str()))
        .add(task::Column::State.eq(TaskState::Running.as_str()))
        .add(task::Column::Worker.eq(claimed.worker.as_str()))
        .add(task::Column::TryNumber.eq(claimed.try_number))
}

fn placeholder(backend: DatabaseBackend, n: usize) -> String {
    if backend == DatabaseBackend::Postgres {
        format!("${n}")
    } else {
        "?".to_owned()
    }
}
