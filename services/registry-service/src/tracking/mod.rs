//! Experiment tracking: experiments, runs with their params, tags and metrics, run search, and
//! run artifacts on the object store. Each operation checks what it is given, reads and writes
//! through [`crate::store`], and answers the wire message.

pub mod artifacts;
pub mod experiments;
pub mod logged_models;
pub mod metrics;
pub mod runs;
pub mod search;

use std::sync::Arc;

use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::registry::v1 as pb;
use object_store::ObjectStore;
use sea_orm::DatabaseConnection;

use crate::domain::states::ACTIVE;
use crate::proto;
use crate::store::cleanup::CleanupSignal;
use crate::store::tracking::{experiment, run};
use crate::store::{self, project, run_details};

/// The stores experiment tracking works on.
#[derive(Clone)]
pub struct Tracking {
    pub(crate) db: DatabaseConnection,
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) objects_url: String,
    pub(crate) cleanup: CleanupSignal,
}

impl Tracking {
    pub fn new(
        db: DatabaseConnection,
        objects: Arc<dyn ObjectStore>,
        objects_url: String,
        cleanup: CleanupSignal,
    ) -> Self {
        Tracking {
            db,
            objects,
            objects_url,
            cleanup,
        }
    }

    pub(crate) async fn experiment(&self, project: &str, id: &str) -> Result<experiment::Model> {
        let found = match id.parse::<i64>() {
            Ok(id) => store::experiments::find(&self.db, id).await?,
            Err(_) => None,
        };
        match found.filter(|e| e.project == project) {
            Some(found) => Ok(found),
            None => {
                let err = Error::of(
                    reasons::EXPERIMENT_NOT_FOUND,
                    format!("experiment '{id}' does not exist in project '{project}'"),
                );
                self.missing(project, err).await
            }
        }
    }

    /// `err` (an experiment, run or model not found), or `project_not_found` when the project
    /// is what is missing: asked only after a read found nothing, so hits cost no query more.
    pub(crate) async fn missing<T>(&self, project: &str, err: Error) -> Result<T> {
        project::require(&self.db, project).await?;
        Err(err)
    }

    /// The run, if it exists in `project`.
    pub(crate) async fn run(&self, project: &str, run_id: &str) -> Result<run::Model> {
        match store::runs::find(&self.db, run_id)
            .await?
            .filter(|r| r.project == project)
        {
            Some(found) => Ok(found),
            None => {
                let err = Error::of(
                    reasons::RUN_NOT_FOUND,
                    format!("run '{run_id}' does not exist in project '{project}'"),
                );
                self.missing(project, err).await
            }
        }
    }

    /// The run, refusing writes to deleted runs (deleted alone, or with their experiment).
    pub(crate) async fn writable_run(&self, project: &str, run_id: &str) -> Result<run::Model> {
        let run = self.run(project, run_id).await?;
        if run.lifecycle_stage != ACTIVE {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "run '{run_id}' is deleted (alone or with its experiment); restore it before writing to it"
                ),
            )
            .with_reason(reasons::RUN_DELETED));
        }
        Ok(run)
    }

    /// Object-store prefix of a run's files.
    pub(crate) fn run_prefix(run: &run::Model) -> String {
        format!("experiments/{}/runs/{}", run.experiment_id, run.id)
    }

    /// The runs with their params, tags and latest metrics, read in one query whatever the
    /// number of runs.
    pub(crate) async fn hydrate(&self, runs: Vec<run::Model>) -> Result<Vec<pb::Run>> {
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let details = run_details::read(&self.db, &ids).await?;
        Ok(proto::runs(runs, details))
    }

    /// One run with its params, tags and latest metrics.
    async fn hydrate_one(&self, run: run::Model, vanished: &str) -> Result<pb::Run> {
        self.hydrate(vec![run])
            .await?
            .pop()
            .ok_or_else(|| Error::internal(vanished))
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
