//! Reads and writes of `registry_logged_models` (MLflow 3's logged models) and
//! `registry_run_outputs` (which logged models a run produced). A logged model's files are rows
//! of `registry_artifacts` under its id, as a run's are under the run's.

use std::collections::HashMap;

use lathe_common::{Result, db};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use super::tracking::artifact;
use super::{cleanup, project};

/// `registry_logged_models`: one row per logged model.
pub mod logged_model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_logged_models")]
    pub struct Model {
        /// `m-` and 32 hex digits.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project: String,
        pub experiment_id: i64,
        pub name: String,
        /// Empty for a model logged outside a run.
        pub source_run_id: String,
        /// PENDING, READY or FAILED.
        pub status: String,
        pub status_message: String,
        pub model_type: String,
        pub params: Json,
        pub tags: Json,
        /// Milliseconds since the epoch.
        pub create_time: i64,
        pub update_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_run_outputs`: a logged model a run produced, at a step.
pub mod run_output {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_run_outputs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub step: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<logged_model::Model>> {
    Ok(logged_model::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// Inserts the logged model, in its project (which must exist).
pub async fn create(db: &DatabaseConnection, row: logged_model::Model) -> Result<()> {
    let txn = db::begin_write(db).await?;
    project::require_shared(&txn, &row.project).await?;
    row.into_active_model().insert(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// What an update changes in a logged model; `None` leaves a column as it is.
#[derive(Default)]
pub struct LoggedModelChange {
    pub status: Option<(String, String)>,
    pub tags: Option<serde_json::Value>,
}

pub async fn update(
    db: &DatabaseConnection,
    found: logged_model::Model,
    change: LoggedModelChange,
    now_ms: i64,
) -> Result<logged_model::Model> {
    let mut active = found.into_active_model();
    if let Some((status, message)) = change.status {
        active.status = Set(status);
        active.status_message = Set(message);
    }
    if let Some(tags) = change.tags {
        active.tags = Set(tags);
    }
    active.update_time = Set(now_ms);
    Ok(active.update(db).await?)
}

/// The project's logged models in the experiments `experiments` (every experiment when empty),
/// newest first; with `name`, only those of that name.
pub async fn of_experiments(
    db: &DatabaseConnection,
    project: &str,
    experiments: &[i64],
    name: Option<&str>,
) -> Result<Vec<logged_model::Model>> {
    let mut query = logged_model::Entity::find()
        .filter(logged_model::Column::Project.eq(project))
        .order_by_desc(logged_model::Column::CreateTime)
        .order_by_desc(logged_model::Column::Id);
    if !experiments.is_empty() {
        query = query.filter(logged_model::Column::ExperimentId.is_in(experiments.iter().copied()));
    }
    if let Some(name) = name {
        query = query.filter(logged_model::Column::Name.eq(name));
    }
    Ok(query.all(db).await?)
}

/// Deletes the logged model's row, its files' rows and its run outputs, and schedules the
/// removal of its objects under `prefix`. The caller wakes the cleanup task after.
pub async fn delete(db: &DatabaseConnection, id: &str, prefix: String) -> Result<()> {
    let txn = db::begin_write(db).await?;
    delete_rows(&txn, id).await?;
    cleanup::schedule(&txn, prefix).await?;
    txn.commit().await?;
    Ok(())
}

async fn delete_rows(txn: &DatabaseTransaction, id: &str) -> Result<()> {
    artifact::Entity::delete_many()
        .filter(artifact::Column::RunId.eq(id))
        .exec(txn)
        .await?;
    run_output::Entity::delete_many()
        .filter(run_output::Column::ModelId.eq(id))
        .exec(txn)
        .await?;
    logged_model::Entity::delete_by_id(id.to_owned())
        .exec(txn)
        .await?;
    Ok(())
}

/// Deletes the rows of every logged model of `project` (their files' rows and run outputs
/// too); their objects lie under their experiments' prefixes, which the project's deletion
/// schedules.
pub async fn delete_project(txn: &DatabaseTransaction, project: &str) -> Result<()> {
    let ids = Query::select()
        .column(logged_model::Column::Id)
        .from(logged_model::Entity)
        .and_where(Expr::col(logged_model::Column::Project).eq(project))
        .to_owned();
    artifact::Entity::delete_many()
        .filter(Expr::col(artifact::Column::RunId).in_subquery(ids.clone()))
        .exec(txn)
        .await?;
    run_output::Entity::delete_many()
        .filter(Expr::col(run_output::Column::ModelId).in_subquery(ids))
        .exec(txn)
        .await?;
    logged_model::Entity::delete_many()
        .filter(logged_model::Column::Project.eq(project))
        .exec(txn)
        .await?;
    Ok(())
}

/// Records that the run produced the logged models `(model_id, step)`; recording one again
/// is a no-op.
pub async fn add_run_outputs(db: &DatabaseConnection, run_id: &str, outputs: &[(String, i64)]) -> Result<()> {
    if outputs.is_empty() {
        return Ok(());
    }
    run_output::Entity::insert_many(outputs.iter().map(|(model_id, step)| run_output::ActiveModel {
        run_id: Set(run_id.to_owned()),
        model_id: Set(model_id.clone()),
        step: Set(*step),
    }))
    .on_conflict(
        OnConflict::columns([
            run_output::Column::RunId,
            run_output::Column::ModelId,
            run_output::Column::Step,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The logged models each of the runs `ids` produced, by run id, in (step, model id) order.
pub async fn run_outputs<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> Result<HashMap<String, Vec<run_output::Model>>> {
    let mut outputs: HashMap<String, Vec<run_output::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(outputs);
    }
    let rows = run_output::Entity::find()
        .filter(run_output::Column::RunId.is_in(ids.iter().cloned()))
        .order_by_asc(run_output::Column::Step)
        .order_by_asc(run_output::Column::ModelId)
        .all(db)
        .await?;
    for row in rows {
        outputs.entry(row.run_id.clone()).or_default().push(row);
    }
    Ok(outputs)
}

/// Deletes the run's outputs (the run is being deleted; its logged models stay).
pub async fn delete_run_outputs<C: ConnectionTrait>(db: &C, run_id: &str) -> Result<()> {
    run_output::Entity::delete_many()
        .filter(run_output::Column::RunId.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}
