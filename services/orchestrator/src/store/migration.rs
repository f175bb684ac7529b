//! Migrations of the orchestrator, with their own history table.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePipelines)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("orchestrator_migrations").into_iden()
    }
}

struct CreatePipelines;

impl MigrationName for CreatePipelines {
    fn name(&self) -> &str {
        "m20261129_000001_create_pipelines"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePipelines {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(lathe_common::definitions::create_table(super::PIPELINES_TABLE))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new(super::PIPELINES_TABLE)).to_owned())
            .await
    }
}
