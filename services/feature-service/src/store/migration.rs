//! Migrations of the feature-service, with their own history table.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateEntities)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("features_migrations").into_iden()
    }
}

struct CreateEntities;

impl MigrationName for CreateEntities {
    fn name(&self) -> &str {
        "m20261129_000001_create_entities"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEntities {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(lathe_common::definitions::create_table(super::ENTITIES_TABLE))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new(super::ENTITIES_TABLE)).to_owned())
            .await
    }
}
