//! Reads and writes of `registry_runs`, and the deletion of a run with all it holds.

use std::collections::HashMap;

use lathe_common::{Result, db};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set,
};

use super::tracking::{artifact, latest_metric, metric_history, run, run_param, run_tag};
use super::{cleanup, project};

pub async fn find(db: &DatabaseConnection, id: &str) -> Result<Option<run::Model>> {
    Ok(run::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// Inserts the run and its first tags, in its project (which must exist).
pub async fn create(db: &DatabaseConnection, row: run::Model, tags: &HashMap<String, String>) -> Result<()> {
    let txn = db::begin_write(db).await?;
    project::require_shared(&txn, &row.project).await?;
    let id = row.id.clone();
    row.into_active_model().insert(&txn).await?;
    if !tags.is_empty() {
        run_tag::Entity::insert_many(tags.iter().map(|(k, v)| run_tag::ActiveModel {
            run_id: Set(id.clone()),
            key: Set(k.clone()),
            value: Set(v.clone()),
        }))
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// What an update changes in a run; `None` leaves a column as it is.
pub struct RunChange {
    /// The stored status and the end time that goes with it.
    pub status: Option<(&'static str, Option<i64>)>,
    pub name: Option<String>,
}

pub async fn update(db: &DatabaseConnection, found: run::Model, change: RunChange) -> Result<run::Model> {
    let mut model = found.into_active_model();
    if let Some((status, end_time)) = change.status {
        model.status = Set(status.to_owned());
        model.end_time = Set(end_time);
    }
    if let Some(name) = change.name {
        model.name = Set(name);
    }
    Ok(model.update(db).await?)
}

/// Moves the run to the lifecycle `stage` (active or deleted).
pub async fn set_stage(db: &DatabaseConnection, found: run::Model, stage: &str) -> Result<run::Model> {
    if found.lifecycle_stage == stage {
        return Ok(found);
    }
    let mut model = found.into_active_model();
    model.lifecycle_stage = Set(stage.to_owned());
    Ok(model.update(db).await?)
}

/// Deletes the run's rows and schedules the removal of its objects under `prefix`. The
/// caller wakes the cleanup task after.
pub async fn delete(db: &DatabaseConnection, id: &str, prefix: String) -> Result<()> {
    let txn = db::begin_write(db).await?;
    run_param::Entity::delete_many()
        .filter(run_param::Column::RunId.eq(id))
        .exec(&txn)
        .await?;
    run_tag::Entity::delete_many()
        .filter(run_tag::Column::RunId.eq(id))
        .exec(&txn)
        .await?;
    metric_history::Entity::delete_many()
        .filter(metric_history::Column::RunId.eq(id))
        .exec(&txn)
        .await?;
    latest_metric::Entity::delete_many()
        .filter(latest_metric::Column::RunId.eq(id))
        .exec(&txn)
        .await?;
    artifact::Entity::delete_many()
        .filter(artifact::Column::RunId.eq(id))
        .exec(&txn)
        .await?;
    run::Entity::delete_by_id(id.to_owned()).exec(&txn).await?;
    cleanup::schedule(&txn, prefix).await?;
    txn.commit().await?;
    Ok(())
}
