//! Migrations of the monitor, with their own history table.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateMonitors)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("monitor_migrations").into_iden()
    }
}

struct CreateMonitors;

impl MigrationName for CreateMonitors {
    fn name(&self) -> &str {
        "m20261129_000001_create_monitors"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMonitors {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(lathe_common::definitions::create_table(super::MONITORS_TABLE))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new(super::MONITORS_TABLE)).to_owned())
            .await
    }
}
