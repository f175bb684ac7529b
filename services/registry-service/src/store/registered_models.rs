//! Reads and writes of `registry_models`, and the deletion of a model with all it holds.

use chrono::Utc;
use lathe_common::{Error, Result, db};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::audit::{self, AuditEntry};
use super::models::{alias, audit_event, lineage, model, version};
use super::{cleanup, project, unless_taken};

/// `(SELECT id FROM registry_models WHERE project = … AND name = …)`: the id of a model by its
/// name, as a subquery that does not depend on the outer query's rows, so PostgreSQL evaluates
/// it once and then probes the outer table's key with it. Joined by name instead, a table
/// without statistics (a fresh database, a bulk load before autovacuum) got a plan that scanned
/// every version of every model for the number asked.
pub fn id_of(project: &str, name: &str) -> Expr {
    let m = Alias::new("by_name");
    let mut id = Query::select();
    id.column((m.clone(), model::Column::Id))
        .from_as(model::Entity, m.clone())
        .and_where(Expr::col((m.clone(), model::Column::Project)).eq(project))
        .and_where(Expr::col((m, model::Column::Name)).eq(name));
    Expr::SubQuery(None, Box::new(id.into()))
}

/// The model `name` of `project`; with `for_update`, its row locked until the transaction
/// `db` ends (PostgreSQL's `FOR UPDATE`).
pub async fn find<C: ConnectionTrait>(
    db: &C,
    project: &str,
    name: &str,
    for_update: bool,
) -> Result<Option<model::Model>> {
    let mut query = model::Entity::find()
        .filter(model::Column::Project.eq(project))
        .filter(model::Column::Name.eq(name));
    if for_update {
        query = query.lock_exclusive();
    }
    Ok(query.one(db).await?)
}

/// A page of the project's models in id order, after the id `after`: `limit + 1` rows at
/// most, to tell whether another page follows.
pub async fn page(
    db: &DatabaseConnection,
    project: &str,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<model::Model>> {
    let mut query = model::Entity::find()
        .filter(model::Column::Project.eq(project))
        .order_by_asc(model::Column::Id);
    if let Some(after) = after {
        query = query.filter(model::Column::Id.gt(after));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

/// What a new model is registered with.
pub struct NewModel<'a> {
    pub project: &'a str,
    pub name: &'a str,
    pub description: String,
    pub tags: serde_json::Value,
    /// JSON of [`crate::domain::gates::Policy`].
    pub policies: serde_json::Value,
}

/// Registers a model in its project (which must exist); `None` when the project has a model
/// of that name already.
pub async fn create(db: &DatabaseConnection, new: NewModel<'_>) -> Result<Option<model::Model>> {
    let now = Utc::now();
    let txn = db::begin_write(db).await?;
    project::require_shared(&txn, new.project).await?;
    let inserted = model::ActiveModel {
        project: Set(new.project.to_owned()),
        name: Set(new.name.to_owned()),
        description: Set(new.description),
        tags: Set(new.tags),
        policies: Set(new.policies),
        last_version: Set(0),
        create_time: Set(now),
        update_time: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let inserted = match inserted {
        Ok(m) => txn.commit().await.map(|()| m),
        Err(err) => Err(err),
    };
    unless_taken(inserted)
}

/// Changes the model's description and policies when given, and sets its tags.
pub async fn update(
    db: &DatabaseConnection,
    found: model::Model,
    description: Option<String>,
    policies: Option<serde_json::Value>,
    tags: serde_json::Value,
) -> Result<model::Model> {
    let mut active = found.into_active_model();
    if let Some(description) = description {
        active.description = Set(description);
    }
    if let Some(policies) = policies {
        active.policies = Set(policies);
    }
    active.tags = Set(tags);
    active.update_time = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Renames the model and records it in its audit log, in one transaction; `None` when the
/// project has a model of the new name.
pub async fn rename(
    db: &DatabaseConnection,
    found: model::Model,
    new_name: &str,
    actor: String,
) -> Result<Option<model::Model>> {
    let txn = db::begin_write(db).await?;
    let (id, old_name) = (found.id, found.name.clone());
    let mut active = found.into_active_model();
    active.name = Set(new_name.to_owned());
    active.update_time = Set(Utc::now());
    let renamed = match active.update(&txn).await {
        Ok(renamed) => renamed,
        Err(err) => return unless_taken(Err(err)),
    };
    let entry = AuditEntry {
        model_id: id,
        version: 0,
        action: "model_renamed",
        from: old_name,
        to: new_name.to_owned(),
        actor,
        reason: "",
    };
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(Some(renamed))
}

/// Deletes the model's rows and schedules the removal of its versions' files. The caller
/// wakes the cleanup task after.
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<()> {
    let txn = db::begin_write(db).await?;
    alias::Entity::delete_many()
        .filter(alias::Column::ModelId.eq(id))
        .exec(&txn)
        .await?;
    lineage::Entity::delete_many()
        .filter(lineage::Column::ModelId.eq(id))
        .exec(&txn)
        .await?;
    audit_event::Entity::delete_many()
        .filter(audit_event::Column::ModelId.eq(id))
        .exec(&txn)
        .await?;
    version::Entity::delete_many()
        .filter(version::Column::ModelId.eq(id))
        .exec(&txn)
        .await?;
    model::Entity::delete_by_id(id).exec(&txn).await?;
    cleanup::schedule(&txn, format!("models/{id}/")).await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes one version's rows (its aliases and lineage with it) in `txn`, and schedules the
/// removal of its files; the caller wakes the cleanup task after the commit.
pub async fn delete_version(txn: &DatabaseTransaction, model_id: i64, number: i64) -> Result<()> {
    alias::Entity::delete_many()
        .filter(alias::Column::ModelId.eq(model_id))
        .filter(alias::Column::Version.eq(number))
        .exec(txn)
        .await?;
    lineage::Entity::delete_many()
        .filter(lineage::Column::ModelId.eq(model_id))
        .filter(lineage::Column::Version.eq(number))
        .exec(txn)
        .await?;
    version::Entity::delete_by_id((model_id, number))
        .exec(txn)
        .await?;
    cleanup::schedule(txn, format!("models/{model_id}/versions/{number}/")).await?;
    Ok(())
}

/// Takes the model's next version number in its own transaction, so it is never handed out
/// twice, even when the rest of the registration fails.
pub async fn next_version_number(db: &DatabaseConnection, id: i64) -> Result<i64> {
    let txn = db::begin_write(db).await?;
    model::Entity::update_many()
        .col_expr(
            model::Column::LastVersion,
            Expr::col(model::Column::LastVersion).add(1),
        )
        .filter(model::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let number = model::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .map(|m| m.last_version)
        .ok_or_else(|| Error::internal("model vanished while numbering a version"))?;
    txn.commit().await?;
    Ok(number)
}
