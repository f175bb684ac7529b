//! Reads and writes of `registry_experiments`.

use chrono::Utc;
use lathe_common::{Result, db};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::tracking::{experiment, run};
use super::{project, unless_taken};
use crate::domain::states::ACTIVE;

/// Creates an active experiment in `project` (which must exist), its artifact location under
/// `objects_url`; `None` when the project already has an experiment of that name.
pub async fn create(
    db: &DatabaseConnection,
    project: &str,
    name: &str,
    tags: serde_json::Value,
    objects_url: &str,
) -> Result<Option<experiment::Model>> {
    let now = Utc::now();
    let txn = db::begin_write(db).await?;
    project::require_shared(&txn, project).await?;
    let inserted = experiment::ActiveModel {
        project: Set(project.to_owned()),
        name: Set(name.to_owned()),
        lifecycle_stage: Set(ACTIVE.to_owned()),
        tags: Set(tags),
        artifact_location: Set(String::new()),
        create_time: Set(now),
        update_time: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let Some(inserted) = unless_taken(inserted)? else {
        return Ok(None);
    };
    let location = format!(
        "{}/experiments/{}",
        objects_url.trim_end_matches('/'),
        inserted.id
    );
    let mut model = inserted.into_active_model();
    model.artifact_location = Set(location);
    let model = model.update(&txn).await?;
    txn.commit().await?;
    Ok(Some(model))
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<experiment::Model>> {
    Ok(experiment::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_name(
    db: &DatabaseConnection,
    project: &str,
    name: &str,
) -> Result<Option<experiment::Model>> {
    Ok(experiment::Entity::find()
        .filter(experiment::Column::Project.eq(project))
        .filter(experiment::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// A page of the project's experiments in id order, after the id `after`, in the lifecycle
/// `stage` if given: `limit + 1` rows at most, to tell whether another page follows.
pub async fn page(
    db: &DatabaseConnection,
    project: &str,
    stage: Option<&str>,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<experiment::Model>> {
    let mut query = experiment::Entity::find()
        .filter(experiment::Column::Project.eq(project))
        .order_by_asc(experiment::Column::Id);
    if let Some(stage) = stage {
        query = query.filter(experiment::Column::LifecycleStage.eq(stage));
    }
    if let Some(after) = after {
        query = query.filter(experiment::Column::Id.gt(after));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

/// Renames (when `name` is given) and retags the experiment; `None` when the project has
/// another experiment of that name.
pub async fn update(
    db: &DatabaseConnection,
    found: experiment::Model,
    name: Option<String>,
    tags: serde_json::Value,
) -> Result<Option<experiment::Model>> {
    let mut model = found.into_active_model();
    if let Some(name) = name {
        model.name = Set(name);
    }
    model.tags = Set(tags);
    model.update_time = Set(Utc::now());
    unless_taken(model.update(db).await)
}

/// Moves the experiment and its runs to the lifecycle `stage`: a deleted experiment's runs are
/// deleted with it, and come back with it.
pub async fn set_stage(
    db: &DatabaseConnection,
    found: experiment::Model,
    stage: &str,
) -> Result<experiment::Model> {
    let txn = db::begin_write(db).await?;
    let id = found.id;
    let mut model = found.into_active_model();
    model.lifecycle_stage = Set(stage.to_owned());
    model.update_time = Set(Utc::now());
    let updated = model.update(&txn).await?;
    run::Entity::update_many()
        .col_expr(run::Column::LifecycleStage, Expr::value(stage))
        .filter(run::Column::ExperimentId.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated)
}
