//! The life of a run in the database: trigger, each step of its DAG, cancel, re-run. Every
//! step is one transaction that locks the run's row, so steps of one run (decided by the
//! workers that finish its tasks, or the sweeper) never interleave.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use lathe_common::{Error, Result, db, reasons};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Map, Value as Json};
use tokio::sync::Notify;

use super::decide::{Instance, RunFacts, decide};
use super::states::{RunState, TaskState};
use crate::definition::{ParamType, Pipeline};
use crate::store::pipelines::Pipelines;
use crate::store::tables::{run, task};

/// How a run was started.
#[derive(Debug, Clone)]
pub enum Trigger {
    Api,
    Schedule,
    Alert(String),
}

impl Trigger {
    fn stored(&self) -> String {
        match self {
            Trigger::Api => "api".to_owned(),
            Trigger::Schedule => "schedule".to_owned(),
            Trigger::Alert(monitor) => format!("alert:{monitor}"),
        }
    }
}

/// A request to start a run.
pub struct NewRun<'a> {
    pub project: &'a str,
    pub pipeline: &'a str,
    /// Values as given: JSON, or bare text for a string parameter.
    pub params: &'a BTreeMap<String, String>,
    pub logical_date: Option<i64>,
    pub trigger: Trigger,
    pub actor: &'a str,
}

/// The PostgreSQL channel on which a step that queued tasks wakes the workers.
const QUEUED_CHANNEL: &str = "lathe_orchestrator_queued";

/// The runs of every pipeline; shared by the API, the sweeper and the in-process workers.
#[derive(Clone)]
pub struct Runs {
    pub pipelines: Pipelines,
    /// Woken when a task is queued, for workers in this process.
    pub queued: Arc<Notify>,
}

impl Runs {
    pub fn new(pipelines: Pipelines) -> Runs {
        Runs {
            pipelines,
            queued: Arc::new(Notify::new()),
        }
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.pipelines.db()
    }

    /// On PostgreSQL, wakes this process's workers whenever any process queues a task
    /// (`LISTEN`), so workers elsewhere start at once instead of at their next poll. Ends
    /// with the returned task's abort; a lost connection is opened again.
    pub fn listen_for_queued(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.db().get_database_backend() != DatabaseBackend::Postgres {
            return None;
        }
        let pool = self.db().get_postgres_connection_pool().clone();
        let queued = self.queued.clone();
        Some(tokio::spawn(async move {
            loop {
                let listened = async {
                    let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(QUEUED_CHANNEL).await?;
                    loop {
                        listener.recv().await?;
                        queued.notify_waiters();
                    }
                };
                let result: std::result::Result<(), sea_orm::sqlx::Error> = listened.await;
                if let Err(err) = result {
                    tracing::warn!(error = %err, "LISTEN for queued tasks failed; polling until it reconnects");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }))
    }

    /// Creates a run of the pipeline's current version (queued) and starts it if the
    /// pipeline's `max_active_runs` allows.
    pub async fn trigger(&self, new: NewRun<'_>, now: i64) -> Result<run::Model> {
        let current = self
            .pipelines
            .current(new.project, new.pipeline)
            .await?
            .ok_or_else(|| pipeline_not_found(new.project, new.pipeline))?;
        let params = resolve_params(&current.pipeline, new.params)?;
        let id = uuid::Uuid::now_v7().simple().to_string();
        let row = run::Model {
            id: id.clone(),
            project: new.project.to_owned(),
            pipeline: new.pipeline.to_owned(),
            pipeline_version: current.head.version,
            state: RunState::Queued.as_str().to_owned(),
            params: Json::Object(params).to_string(),
            logical_date: new.logical_date.unwrap_or(now),
            trigger: new.trigger.stored(),
            actor: new.actor.to_owned(),
            create_time: now,
            start_time: None,
            end_time: None,
        };
        let pipeline = current.pipeline.clone();
        db::retry_conflicts(|| async {
            let txn = db::begin_write(self.db()).await?;
            row.clone().into_active_model().insert(&txn).await?;
            let tasks = pipeline.tasks.iter().map(|t| task::ActiveModel {
                run_id: Set(id.clone()),
                task_id: Set(t.id.clone()),
                project: Set(new.project.to_owned()),
                kind: Set(t.kind.name().to_owned()),
                state: Set(TaskState::Pending.as_str().to_owned()),
                try_number: Set(0),
                max_tries: Set(i32::try_from(t.retries.count).unwrap_or(i32::MAX - 1) + 1),
                queued_time: Set(None),
                retry_time: Set(None),
                worker: Set(String::new()),
                lease_expires: Set(None),
                start_time: Set(None),
                end_time: Set(None),
                outputs: Set(String::new()),
                message: Set(String::new()),
            });
            task::Entity::insert_many(tasks).exec(&txn).await?;
            txn.commit().await?;
            Ok(())
        })
        .await?;
        self.start_queued(new.project, new.pipeline, now).await?;
        self.run_row(new.project, &id).await
    }

    /// Starts the pipeline's queued runs, oldest first, while fewer than its
    /// `max_active_runs` are running.
    pub async fn start_queued(&self, project: &str, pipeline: &str, now: i64) -> Result<()> {
        let started = db::retry_conflicts(|| async {
            let txn = db::begin_write(self.db()).await?;
            let active = run::Entity::find()
                .filter(run::Column::Project.eq(project))
                .filter(run::Column::Pipeline.eq(pipeline))
                .filter(run::Column::State.is_in([RunState::Running.as_str(), RunState::Queued.as_str()]))
                .order_by_asc(run::Column::CreateTime)
                .order_by_asc(run::Column::Id)
                .lock_exclusive()
                .all(&txn)
                .await?;
            let Some(first) = active.first() else {
                return Ok(Vec::new());
            };
            let limit = self
                .pipelines
                .version(project, pipeline, first.pipeline_version)
                .await?
                .max_active_runs;
            let running = active
                .iter()
                .filter(|r| r.state == RunState::Running.as_str())
                .count();
            let free = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .saturating_sub(running);
            let mut started = Vec::new();
            for queued in active
                .iter()
                .filter(|r| r.state == RunState::Queued.as_str())
                .take(free)
            {
                let mut row = queued.clone().into_active_model();
                row.state = Set(RunState::Running.as_str().to_owned());
                row.start_time = Set(Some(now));
                row.update(&txn).await?;
                started.push(queued.id.clone());
            }
            txn.commit().await?;
            Ok(started)
        })
        .await?;
        for id in started {
            self.advance(&id, now).await?;
        }
        Ok(())
    }

    /// Takes the run one step: moves its tasks as [`decide`] says and ends it when all are
    /// finished. Wakes the workers when it queued a task.
    pub async fn advance(&self, run_id: &str, now: i64) -> Result<()> {
        let outcome = db::retry_conflicts(|| async {
            let txn = db::begin_write(self.db()).await?;
            let outcome = self.advance_in(&txn, run_id, now).await?;
            txn.commit().await?;
            Ok(outcome)
        })
        .await?;
        if outcome.queued {
            self.queued.notify_waiters();
        }
        if let Some((project, pipeline)) = outcome.ended {
            // A slot of max_active_runs is free.
            Box::pin(self.start_queued(&project, &pipeline, now)).await?;
        }
        Ok(())
    }

    async fn advance_in(&self, txn: &DatabaseTransaction, run_id: &str, now: i64) -> Result<Advanced> {
        let Some(row) = lock_run(txn, run_id).await? else {
            return Ok(Advanced::default());
        };
        if RunState::parse(&row.state) != RunState::Running {
            return Ok(Advanced::default());
        }
        let pipeline = self
            .pipelines
            .version(&row.project, &row.pipeline, row.pipeline_version)
            .await?;
        let tasks = task::Entity::find()
            .filter(task::Column::RunId.eq(run_id))
            .all(txn)
            .await?;
        let instances: BTreeMap<String, Instance> = tasks
            .iter()
            .map(|t| {
                let state = TaskState::parse(&t.state);
                let outputs = (state == TaskState::Success)
                    .then(|| serde_json::from_str::<Map<String, Json>>(&t.outputs).unwrap_or_default());
                (t.task_id.clone(), Instance { state, outputs })
            })
            .collect();
        let params: BTreeMap<String, Json> = serde_json::from_str(&row.params).unwrap_or_default();
        let logical_date = rfc3339(row.logical_date);
        let decision = decide(
            &pipeline,
            &instances,
            &RunFacts {
                params: &params,
                run_id: &row.id,
                logical_date: &logical_date,
            },
        );
        let mut outcome = Advanced::default();
        if decision.moves.iter().any(|m| m.to == TaskState::Queued)
            && txn.get_database_backend() == DatabaseBackend::Postgres
        {
            // Delivered at commit, to the workers of every process (`listen_for_queued`).
            txn.execute_unprepared(&format!("NOTIFY {QUEUED_CHANNEL}"))
                .await?;
        }
        for step in &decision.moves {
            let mut update = task::Entity::update_many()
                .col_expr(task::Column::State, step.to.as_str().into())
                .col_expr(task::Column::Message, step.message.clone().into())
                .filter(task::Column::RunId.eq(run_id))
                .filter(task::Column::TaskId.eq(step.task.as_str()));
            match step.to {
                TaskState::Queued => {
                    update = update.col_expr(task::Column::QueuedTime, Some(now).into());
                    outcome.queued = true;
                }
                TaskState::Skipped | TaskState::UpstreamFailed | TaskState::Failed => {
                    update = update.col_expr(task::Column::EndTime, Some(now).into());
                }
                TaskState::Pending
                | TaskState::Scheduled
                | TaskState::Running
                | TaskState::Success
                | TaskState::UpForRetry => {}
            }
            update.exec(txn).await?;
        }
        if let Some(state) = decision.finished {
            let mut done = row.clone().into_active_model();
            done.state = Set(state.as_str().to_owned());
            done.end_time = Set(Some(now));
            done.update(txn).await?;
            outcome.ended = Some((row.project.clone(), row.pipeline.clone()));
        }
        Ok(outcome)
    }

    /// Cancels a queued or running run: tasks not started are skipped, running ones failed
    /// (their workers see it at their next heartbeat and kill the process).
    pub async fn cancel(&self, project: &str, run_id: &str, now: i64) -> Result<run::Model> {
        let (project_name, pipeline) = db::retry_conflicts(|| async {
            let txn = db::begin_write(self.db()).await?;
            let row = lock_run(&txn, run_id)
                .await?
                .filter(|r| r.project == project)
                .ok_or_else(|| run_not_found(project, run_id))?;
            if RunState::parse(&row.state).is_finished() {
                return Err(Error::of(
                    reasons::RUN_FINISHED,
                    format!("run {run_id} has already finished ({}); only a queued or running run can be cancelled", row.state),
                ));
            }
            for (from, to, message) in [
                (
                    vec![
                        TaskState::Pending,
                        TaskState::Scheduled,
                        TaskState::Queued,
                        TaskState::UpForRetry,
                    ],
                    TaskState::Skipped,
                    "the run was cancelled",
                ),
                (vec![TaskState::Running], TaskState::Failed, "killed: the run was cancelled"),
            ] {
                task::Entity::update_many()
                    .col_expr(task::Column::State, to.as_str().into())
                    .col_expr(task::Column::Message, message.into())
                    .col_expr(task::Column::EndTime, Some(now).into())
                    .filter(task::Column::RunId.eq(run_id))
                    .filter(task::Column::State.is_in(from.iter().map(|s| s.as_str())))
                    .exec(&txn)
                    .await?;
            }
            let mut done = row.clone().into_active_model();
            done.state = Set(RunState::Cancelled.as_str().to_owned());
            done.end_time = Set(Some(now));
            done.update(&txn).await?;
            txn.commit().await?;
            Ok((row.project, row.pipeline))
        })
        .await?;
        self.start_queued(&project_name, &pipeline, now).await?;
        self.run_row(project, run_id).await
    }

    /// Runs a failed or cancelled run again from the tasks that did not succeed; each gets
    /// its retries again.
    pub async fn rerun(&self, project: &str, run_id: &str, now: i64) -> Result<run::Model> {
        let pipeline = db::retry_conflicts(|| async {
            let txn = db::begin_write(self.db()).await?;
            let row = lock_run(&txn, run_id)
                .await?
                .filter(|r| r.project == project)
                .ok_or_else(|| run_not_found(project, run_id))?;
            let state = RunState::parse(&row.state);
            if !matches!(state, RunState::Failed | RunState::Cancelled) {
                return Err(Error::of(
                    reasons::RUN_NOT_RERUNNABLE,
                    format!(
                        "run {run_id} is {}; only a failed or cancelled run can be re-run",
                        row.state
                    ),
                ));
            }
            let definition = self
                .pipelines
                .version(&row.project, &row.pipeline, row.pipeline_version)
                .await?;
            let tasks = task::Entity::find()
                .filter(task::Column::RunId.eq(run_id))
                .all(&txn)
                .await?;
            for instance in tasks {
                if TaskState::parse(&instance.state) == TaskState::Success {
                    continue;
                }
                let retries = definition
                    .tasks
                    .iter()
                    .find(|t| t.id == instance.task_id)
                    .map_or(0, |t| t.retries.count);
                let tries = instance.try_number;
                let mut again = instance.into_active_model();
                again.state = Set(TaskState::Pending.as_str().to_owned());
                again.max_tries = Set(tries + i32::try_from(retries).unwrap_or(0) + 1);
                again.message = Set(String::new());
                again.queued_time = Set(None);
                again.retry_time = Set(None);
                again.end_time = Set(None);
                again.lease_expires = Set(None);
                again.update(&txn).await?;
            }
            let mut again = row.clone().into_active_model();
            again.state = Set(RunState::Queued.as_str().to_owned());
            again.end_time = Set(None);
            again.update(&txn).await?;
            txn.commit().await?;
            Ok(row.pipeline)
        })
        .await?;
        self.start_queued(project, &pipeline, now).await?;
        self.run_row(project, run_id).await
    }

    pub async fn run_row(&self, project: &str, run_id: &str) -> Result<run::Model> {
        run::Entity::find_by_id(run_id.to_owned())
            .one(self.db())
            .await?
            .filter(|r| r.project == project)
            .ok_or_else(|| run_not_found(project, run_id))
    }

    pub async fn tasks(&self, run_id: &str) -> Result<Vec<task::Model>> {
        Ok(task::Entity::find()
            .filter(task::Column::RunId.eq(run_id))
            .all(self.db())
            .await?)
    }
}

#[derive(Default)]
struct Advanced {
    queued: bool,
    ended: Option<(String, String)>,
}

pub(super) async fn lock_run(txn: &DatabaseTransaction, run_id: &str) -> Result<Option<run::Model>> {
    Ok(run::Entity::find_by_id(run_id.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?)
}

pub fn run_not_found(project: &str, run_id: &str) -> Error {
    Error::of(
        reasons::PIPELINE_RUN_NOT_FOUND,
        format!("pipeline run '{run_id}' does not exist in project '{project}'"),
    )
}

pub fn pipeline_not_found(project: &str, name: &str) -> Error {
    Error::of(
        reasons::PIPELINE_NOT_FOUND,
        format!("pipeline '{name}' does not exist in project '{project}'"),
    )
}

pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The run's parameter values: given ones checked against their declared types, defaults
/// filled in; an unknown, missing or mistyped parameter is refused, naming it.
pub fn resolve_params(pipeline: &Pipeline, given: &BTreeMap<String, String>) -> Result<Map<String, Json>> {
    let mut values = Map::new();
    let mut problems = Vec::new();
    for (name, _) in given
        .iter()
        .filter(|(n, _)| !pipeline.params.iter().any(|p| &p.name == *n))
    {
        let known: Vec<&str> = pipeline.params.iter().map(|p| p.name.as_str()).collect();
        problems.push(format!(
            "unknown parameter '{name}' (pipeline '{}' has: {})",
            pipeline.name,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    for param in &pipeline.params {
        let value = match (given.get(&param.name), &param.default) {
            (Some(text), _) => match serde_json::from_str::<Json>(text) {
                Ok(value) if param.kind.accepts(&value) => value,
                _ if param.kind == ParamType::String => Json::String(text.clone()),
                Ok(_) | Err(_) => {
                    problems.push(format!(
                        "parameter '{}' must be {}, got '{text}'",
                        param.name,
                        param.kind.name()
                    ));
                    continue;
                }
            },
            (None, Some(default)) => default.clone(),
            (None, None) => {
                problems.push(format!(
                    "parameter '{}' ({}) has no default: give it",
                    param.name,
                    param.kind.name()
                ));
                continue;
            }
        };
        values.insert(param.name.clone(), value);
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(Error::of(reasons::INVALID_RUN_PARAMS, problems.join("; ")))
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
