//! `registry_projects`: one row per project.

use sea_orm::QuerySelect;
use sea_orm::entity::prelude::*;

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
    lathe_common::Error::not_found("project_not_found", format!("project '{name}' does not exist"))
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
