//! Deleting a monitor's data, and a project's.

use std::collections::HashMap;

use futures::TryStreamExt;
use lathe_common::Result;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{Engine, storage_error};
use crate::store::tables::{alert, batch, label, reference, window};

/// `$action!(table)` over every table of the monitor's data, as counts by kind.
macro_rules! for_each_table {
    ($action:ident) => {{
        let mut n = HashMap::new();
        n.insert("logged_batches", $action!(batch));
        n.insert("labels", $action!(label));
        n.insert("windows", $action!(window));
        n.insert("alerts", $action!(alert));
        n.insert("references", $action!(reference));
        n
    }};
}

impl Engine {
    /// Deletes everything a monitor holds beside its definition: rows, then files.
    pub async fn delete_monitor_data(&self, project: &str, name: &str) -> Result<()> {
        macro_rules! delete {
            ($table:ident) => {
                $table::Entity::delete_many()
                    .filter($table::Column::Project.eq(project))
                    .filter($table::Column::Monitor.eq(name))
                    .exec(&self.db)
                    .await?
                    .rows_affected
            };
        }
        let _ = for_each_table!(delete);
        self.delete_files(&super::prefix(project, name)).await
    }

    /// What the project holds here beside monitor definitions, per kind; deleted when `delete`.
    pub async fn project_data(&self, project: &str, delete: bool) -> Result<HashMap<&'static str, u64>> {
        macro_rules! count {
            ($table:ident) => {
                $table::Entity::find()
                    .filter($table::Column::Project.eq(project))
                    .count(&self.db)
                    .await?
            };
        }
        macro_rules! delete {
            ($table:ident) => {
                $table::Entity::delete_many()
                    .filter($table::Column::Project.eq(project))
                    .exec(&self.db)
                    .await?
                    .rows_affected
            };
        }
        if !delete {
            return Ok(for_each_table!(count));
        }
        let counts = for_each_table!(delete);
        self.delete_files(&format!("monitors/{project}")).await?;
        Ok(counts)
    }

    async fn delete_files(&self, prefix: &str) -> Result<()> {
        let found: Vec<_> = self
            .objects
            .list(Some(&Path::from(prefix)))
            .try_collect()
            .await
            .map_err(storage_error)?;
        for object in found {
            self.objects
                .delete(&object.location)
                .await
                .map_err(storage_error)?;
        }
        Ok(())
    }
}
