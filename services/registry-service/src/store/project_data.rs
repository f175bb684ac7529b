//! What a project holds in the registry: counted for the refusal of a deletion, deleted by a
//! cascading one. Rows go at once; objects are handed to the cleanup task
//! (`registry_pending_deletions`) in the same transaction.

use std::collections::BTreeMap;

use chrono::Utc;
use lathe_common::Result;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set,
};

use super::models::{alias, audit_event, lineage, model, pending_deletion, version};
use super::tracking::{artifact, experiment, latest_metric, metric_history, run, run_param, run_tag};

/// How many experiments, runs and models the project holds, by kind; kinds it has none of
/// are left out.
pub async fn count<C: ConnectionTrait>(db: &C, project: &str) -> Result<BTreeMap<String, u64>> {
    let experiments = experiment::Entity::find()
        .filter(experiment::Column::Project.eq(project))
        .count(db)
        .await?;
    let runs = run::Entity::find()
        .filter(run::Column::Project.eq(project))
        .count(db)
        .await?;
    let models = model::Entity::find()
        .filter(model::Column::Project.eq(project))
        .count(db)
        .await?;
    Ok([("experiments", experiments), ("runs", runs), ("models", models)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| (kind.to_owned(), n))
        .collect())
}

/// `SELECT id FROM registry_runs WHERE project = …`.
fn run_ids(project: &str) -> SelectStatement {
    Query::select()
        .column(run::Column::Id)
        .from(run::Entity)
        .and_where(Expr::col(run::Column::Project).eq(project))
        .to_owned()
}

/// `SELECT id FROM registry_models WHERE project = …`.
fn model_ids(project: &str) -> SelectStatement {
    Query::select()
        .column(model::Column::Id)
        .from(model::Entity)
        .and_where(Expr::col(model::Column::Project).eq(project))
        .to_owned()
}

/// Deletes every row of the project's experiments, runs and models in `txn` and schedules the
/// removal of their objects (each experiment's prefix holds its runs' artifacts; each model's
/// its versions' copies). The caller wakes the cleanup task after the commit.
pub async fn delete(txn: &DatabaseTransaction, project: &str) -> Result<()> {
    macro_rules! delete_by_run {
        ($entity:ident) => {
            $entity::Entity::delete_many()
                .filter(Expr::col($entity::Column::RunId).in_subquery(run_ids(project)))
                .exec(txn)
                .await?;
        };
    }
    delete_by_run!(run_param);
    delete_by_run!(run_tag);
    delete_by_run!(metric_history);
    delete_by_run!(latest_metric);
    delete_by_run!(artifact);
    super::logged_models::delete_project(txn, project).await?;
    run::Entity::delete_many()
        .filter(run::Column::Project.eq(project))
        .exec(txn)
        .await?;

    macro_rules! delete_by_model {
        ($entity:ident) => {
            $entity::Entity::delete_many()
                .filter(Expr::col($entity::Column::ModelId).in_subquery(model_ids(project)))
                .exec(txn)
                .await?;
        };
    }
    delete_by_model!(alias);
    delete_by_model!(lineage);
    delete_by_model!(audit_event);
    delete_by_model!(version);

    let experiments: Vec<i64> = experiment::Entity::find()
        .select_only()
        .column(experiment::Column::Id)
        .filter(experiment::Column::Project.eq(project))
        .into_tuple()
        .all(txn)
        .await?;
    let models: Vec<i64> = model::Entity::find()
        .select_only()
        .column(model::Column::Id)
        .filter(model::Column::Project.eq(project))
        .into_tuple()
        .all(txn)
        .await?;
    let now = Utc::now();
    let prefixes = experiments
        .iter()
        .map(|id| format!("experiments/{id}/"))
        .chain(models.iter().map(|id| format!("models/{id}/")));
    for prefix in prefixes {
        pending_deletion::ActiveModel {
            prefix: Set(prefix),
            create_time: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    model::Entity::delete_many()
        .filter(model::Column::Project.eq(project))
        .exec(txn)
        .await?;
    experiment::Entity::delete_many()
        .filter(experiment::Column::Project.eq(project))
        .exec(txn)
        .await?;
    Ok(())
}
