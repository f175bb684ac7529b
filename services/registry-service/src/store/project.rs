//! `registry_projects`: one row per project, and its reads and writes.

use std::collections::BTreeMap;

use lathe_common::projects::PROJECT_DATA_SERVICES;
use lathe_common::reasons;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{IntoActiveModel, QueryOrder, QuerySelect, Set};

use super::project_data;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub description: String,
    /// JSON object of string labels.
    pub labels: Json,
    pub created_by: String,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// `registry_project_tombstones`: the services that still have to purge the data of a deleted
/// project; while a name has rows here it cannot be created again.
pub mod tombstone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_project_tombstones")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub service: String,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The error of a call naming a project that does not exist.
pub fn not_found(name: &str) -> lathe_common::Error {
    lathe_common::Error::of(
        reasons::PROJECT_NOT_FOUND,
        format!("project '{name}' does not exist"),
    )
}

/// Fails with `project_not_found` unless the project exists. Reads call it only after they
/// found nothing, to tell a missing project from a missing experiment or model.
pub async fn require<C: ConnectionTrait>(db: &C, name: &str) -> lathe_common::Result<()> {
    match Entity::find_by_id(name.to_owned()).one(db).await? {
        Some(_) => Ok(()),
        None => Err(not_found(name)),
    }
}

/// [`require`] inside a write transaction that creates rows in the project; on PostgreSQL the
/// project's row stays locked `FOR SHARE` until `txn` ends, so a concurrent deletion of the
/// project waits for it and then deletes what it created (SQLite's write transactions hold the
/// whole database already).
pub async fn require_shared(txn: &sea_orm::DatabaseTransaction, name: &str) -> lathe_common::Result<()> {
    match Entity::find_by_id(name.to_owned()).lock_shared().one(txn).await? {
        Some(_) => Ok(()),
        None => Err(not_found(name)),
    }
}

/// The services still to purge a deleted project's data, by name.
pub async fn pending_purges<C: ConnectionTrait>(db: &C, name: &str) -> lathe_common::Result<Vec<String>> {
    Ok(tombstone::Entity::find()
        .filter(tombstone::Column::Project.eq(name))
        .order_by_asc(tombstone::Column::Service)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.service)
        .collect())
}

pub async fn find(db: &DatabaseConnection, name: &str) -> lathe_common::Result<Model> {
    Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| not_found(name))
}

/// A page of projects in name order, after the name `after` (if not empty), among `only` (if
/// not empty): `limit + 1` rows at most, to tell whether another page follows.
pub async fn page(
    db: &DatabaseConnection,
    after: String,
    only: Vec<String>,
    limit: u64,
) -> lathe_common::Result<Vec<Model>> {
    let mut query = Entity::find().order_by_asc(Column::Name);
    if !after.is_empty() {
        query = query.filter(Column::Name.gt(after));
    }
    if !only.is_empty() {
        query = query.filter(Column::Name.is_in(only));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

/// What [`create`] did.
pub enum Creation {
    Created(Model),
    /// The name is taken.
    Exists,
    /// A project of that name was deleted and these services have not purged its data yet.
    BeingDeleted(Vec<String>),
}

pub async fn create(db: &DatabaseConnection, row: ActiveModel, name: &str) -> lathe_common::Result<Creation> {
    let txn = lathe_common::db::begin_write(db).await?;
    let pending = pending_purges(&txn, name).await?;
    if !pending.is_empty() {
        return Ok(Creation::BeingDeleted(pending));
    }
    let inserted = match row.insert(&txn).await {
        Ok(model) => txn.commit().await.map(|()| model),
        Err(err) => Err(err),
    };
    match inserted {
        Ok(model) => Ok(Creation::Created(model)),
        Err(err) if super::unique_violation(&err) => Ok(Creation::Exists),
        Err(err) => Err(err.into()),
    }
}

/// Changes the project's description and labels when given.
pub async fn update(
    db: &DatabaseConnection,
    name: &str,
    description: Option<String>,
    labels: Option<Json>,
) -> lathe_common::Result<Model> {
    let mut model = find(db, name).await?.into_active_model();
    if let Some(description) = description {
        model.description = Set(description);
    }
    if let Some(labels) = labels {
        model.labels = Set(labels);
    }
    model.update_time = Set(chrono::Utc::now());
    Ok(model.update(db).await?)
}

/// What [`delete`] did.
pub enum Deletion {
    /// The project is gone; it held these counts of things, by kind.
    Deleted(BTreeMap<String, u64>),
    /// It was deleted before; these services have still to purge its data.
    Pending(Vec<String>),
}

/// Deletes the project (with all it holds here when `cascade`, else only when it holds
/// nothing) and records that every service still has to purge it. A name already deleted but
/// not yet purged everywhere answers its pending services. The caller wakes the cleanup task
/// after a cascade.
pub async fn delete(db: &DatabaseConnection, name: &str, cascade: bool) -> lathe_common::Result<Deletion> {
    let txn = lathe_common::db::begin_write(db).await?;
    // Locked: creations in the project (which hold it FOR SHARE) finish before, or fail after.
    let found = Entity::find_by_id(name.to_owned())
        .lock_exclusive()
        .one(&txn)
        .await?;
    if found.is_none() {
        let pending_services = pending_purges(&txn, name).await?;
        if pending_services.is_empty() {
            return Err(not_found(name));
        }
        return Ok(Deletion::Pending(pending_services));
    }
    let counts = project_data::count(&txn, name).await?;
    if !cascade && !counts.is_empty() {
        return Err(lathe_common::projects::not_empty(name, &counts));
    }
    if cascade {
        project_data::delete(&txn, name).await?;
    }
    Entity::delete_by_id(name.to_owned()).exec(&txn).await?;
    let now = chrono::Utc::now();
    tombstone::Entity::insert_many(PROJECT_DATA_SERVICES.map(|service| tombstone::ActiveModel {
        project: Set(name.to_owned()),
        service: Set(service.to_owned()),
        create_time: Set(now),
    }))
    .on_conflict(
        OnConflict::columns([tombstone::Column::Project, tombstone::Column::Service])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(Deletion::Deleted(counts))
}

/// Records that `services` have purged the project's data.
pub async fn purged(db: &DatabaseConnection, name: &str, services: Vec<String>) -> lathe_common::Result<()> {
    tombstone::Entity::delete_many()
        .filter(tombstone::Column::Project.eq(name))
        .filter(tombstone::Column::Service.is_in(services))
        .exec(db)
        .await?;
    Ok(())
}
