//! Migrations of the serving service, with their own history table.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateDeployments)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("serving_migrations").into_iden()
    }
}

struct CreateDeployments;

impl MigrationName for CreateDeployments {
    fn name(&self) -> &str {
        "m20261205_000001_create_deployments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDeployments {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(lathe_common::definitions::create_table(super::DEPLOYMENTS_TABLE))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(super::DEPLOYMENTS_TABLE))
                    .to_owned(),
            )
            .await
    }
}
