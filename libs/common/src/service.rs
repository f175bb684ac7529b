//! What every service does at start: connect its metadata database (running its migrations)
//! and open its object store, from its section of the settings.

use std::sync::Arc;

use object_store::ObjectStore;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::config::{CommonSettings, ConfigError, ServiceSettings};
use crate::db::{self, DbError};
use crate::storage;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// A service's own stores.
#[derive(Clone)]
pub struct Stores {
    pub db: DatabaseConnection,
    pub objects: Arc<dyn ObjectStore>,
}

impl Stores {
    /// Opens the stores of the service whose settings section is `section`, migrated by `M`.
    pub async fn open<M: MigratorTrait>(
        section: &str,
        settings: &ServiceSettings,
        common: &CommonSettings,
    ) -> Result<Stores, StartError> {
        let url = db::resolve_url(&settings.database, &common.data_dir, section);
        let db = db::connect(&url, &settings.database, &format!("{section}.database")).await?;
        M::up(&db, None).await.map_err(DbError::Migrate)?;
        let objects_url = storage::resolve_url(&settings.object_store, &common.data_dir, section)?;
        let objects = storage::open(&objects_url, &settings.object_store, &format!("{section}.object_store"))?;
        tracing::info!(service = section, database = %db::redact(&url), objects = %objects_url, "stores ready");
        Ok(Stores { db, objects })
    }
}
