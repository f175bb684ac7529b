//! Reads and writes of `registry_artifacts`, the committed files of runs.

use lathe_common::Result;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};

use super::tracking::artifact;

/// Records a committed file, replacing the row of an earlier upload to the same path.
pub async fn upsert(db: &DatabaseConnection, row: &artifact::Model) -> Result<()> {
    artifact::Entity::insert(artifact::ActiveModel {
        run_id: Set(row.run_id.clone()),
        path: Set(row.path.clone()),
        size: Set(row.size),
        sha256: Set(row.sha256.clone()),
        create_time: Set(row.create_time),
    })
    .on_conflict(
        OnConflict::columns([artifact::Column::RunId, artifact::Column::Path])
            .update_columns([
                artifact::Column::Size,
                artifact::Column::Sha256,
                artifact::Column::CreateTime,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

pub async fn find(db: &DatabaseConnection, run_id: &str, path: &str) -> Result<Option<artifact::Model>> {
    Ok(artifact::Entity::find_by_id((run_id.to_owned(), path.to_owned()))
        .one(db)
        .await?)
}

/// The run's files whose paths start with `prefix` (all of them for an empty one), in path
/// order.
pub async fn under(db: &DatabaseConnection, run_id: &str, prefix: &str) -> Result<Vec<artifact::Model>> {
    let mut query = artifact::Entity::find()
        .filter(artifact::Column::RunId.eq(run_id))
        .order_by_asc(artifact::Column::Path);
    if !prefix.is_empty() {
        query = query.filter(artifact::Column::Path.starts_with(prefix));
    }
    Ok(query.all(db).await?)
}

/// The run's file at `path`, or the files of the directory `path`, in path order.
pub async fn file_or_tree(db: &DatabaseConnection, run_id: &str, path: &str) -> Result<Vec<artifact::Model>> {
    Ok(artifact::Entity::find()
        .filter(artifact::Column::RunId.eq(run_id))
        .filter(
            Condition::any()
                .add(artifact::Column::Path.eq(path))
                .add(artifact::Column::Path.starts_with(format!("{path}/"))),
        )
        .order_by_asc(artifact::Column::Path)
        .all(db)
        .await?)
}
