//! Migrations of the registry-service, recorded in their own history table so services can
//! share one database.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateProjects)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("registry_migrations").into_iden()
    }
}

struct CreateProjects;

impl MigrationName for CreateProjects {
    fn name(&self) -> &str {
        "m20261129_000001_create_projects"
    }
}

#[derive(DeriveIden)]
enum RegistryProjects {
    Table,
    Name,
    Description,
    Labels,
    CreatedBy,
    CreateTime,
    UpdateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProjects {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RegistryProjects::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RegistryProjects::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RegistryProjects::Description).text().not_null())
                    .col(ColumnDef::new(RegistryProjects::Labels).json().not_null())
                    .col(ColumnDef::new(RegistryProjects::CreatedBy).string().not_null())
                    .col(
                        ColumnDef::new(RegistryProjects::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RegistryProjects::UpdateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RegistryProjects::Table).to_owned())
            .await
    }
}
