//! What a project holds in the orchestrator, counted or deleted when the project is deleted.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use lathe_common::{Result, db};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use super::tables::{log_chunk, pipeline, pipeline_version, run, task};

pub async fn count_or_delete(
    db: &DatabaseConnection,
    objects: &Arc<dyn ObjectStore>,
    project: &str,
    delete: bool,
) -> Result<HashMap<String, u64>> {
    let pipelines = pipeline::Entity::find()
        .filter(pipeline::Column::Project.eq(project))
        .count(db)
        .await?;
    let run_ids: Vec<String> = run::Entity::find()
        .select_only()
        .column(run::Column::Id)
        .filter(run::Column::Project.eq(project))
        .into_tuple()
        .all(db)
        .await?;
    let counts = HashMap::from([
        ("pipelines".to_owned(), pipelines),
        ("pipeline_runs".to_owned(), run_ids.len() as u64),
    ]);
    if !delete {
        return Ok(counts);
    }
    let txn = db::begin_write(db).await?;
    for id in &run_ids {
        log_chunk::Entity::delete_many()
            .filter(log_chunk::Column::RunId.eq(id.as_str()))
            .exec(&txn)
            .await?;
    }
    task::Entity::delete_many()
        .filter(task::Column::Project.eq(project))
        .exec(&txn)
        .await?;
    run::Entity::delete_many()
        .filter(run::Column::Project.eq(project))
        .exec(&txn)
        .await?;
    pipeline_version::Entity::delete_many()
        .filter(pipeline_version::Column::Project.eq(project))
        .exec(&txn)
        .await?;
    pipeline::Entity::delete_many()
        .filter(pipeline::Column::Project.eq(project))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    for id in &run_ids {
        let prefix = ObjectPath::from(format!("runs/{id}"));
        let found: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
        for object in found {
            objects.delete(&object.location).await?;
        }
    }
    Ok(counts)
}
