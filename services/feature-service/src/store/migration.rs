//! Migrations of the feature-service, with their own history table.

use lathe_contract::features::v1 as pb;
use prost::Message;
use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

use crate::definitions::spec::EntitySpec;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateEntities),
            Box::new(CreateDefinitions),
            Box::new(CreateMaterializations),
        ]
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
            .create_table(lathe_common::definitions::create_table(
                super::LEGACY_ENTITIES_TABLE,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(super::LEGACY_ENTITIES_TABLE))
                    .to_owned(),
            )
            .await
    }
}

/// All kinds of definitions in one table with a history; entities move over from the first table.
struct CreateDefinitions;

impl MigrationName for CreateDefinitions {
    fn name(&self) -> &str {
        "m20261129_000002_create_definitions"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDefinitions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("features_definitions"))
                    .if_not_exists()
                    .col(col("project").string().not_null())
                    .col(col("kind").string().not_null())
                    .col(col("name").string().not_null())
                    .col(col("version").big_integer().not_null())
                    .col(col("spec").text().not_null())
                    .col(col("origin").text().not_null())
                    .col(col("create_time").timestamp_with_time_zone().not_null())
                    .col(col("update_time").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("project"))
                            .col(Alias::new("kind"))
                            .col(Alias::new("name")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("features_definition_history"))
                    .if_not_exists()
                    .col(col("id").big_integer().not_null().auto_increment().primary_key())
                    .col(col("project").string().not_null())
                    .col(col("kind").string().not_null())
                    .col(col("name").string().not_null())
                    .col(col("version").big_integer().not_null())
                    .col(col("spec").text().null())
                    .col(col("actor").string().not_null())
                    .col(col("applied_time").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("features_definition_history_name")
                    .table(Alias::new("features_definition_history"))
                    .col(Alias::new("project"))
                    .col(Alias::new("kind"))
                    .col(Alias::new("name"))
                    .col(Alias::new("version"))
                    .to_owned(),
            )
            .await?;
        move_legacy_entities(manager).await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(super::LEGACY_ENTITIES_TABLE))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("features_definition_history"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("features_definitions")).to_owned())
            .await
    }
}

/// Rewrites entities stored as protobuf by the first migration into canonical JSON rows.
async fn move_legacy_entities(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let select = Query::select()
        .columns(["project", "name", "version", "spec", "create_time", "update_time"].map(Alias::new))
        .from(Alias::new(super::LEGACY_ENTITIES_TABLE))
        .to_owned();
    for row in db.query_all(&select).await? {
        let bytes: Vec<u8> = row.try_get("", "spec")?;
        let entity =
            pb::Entity::decode(bytes.as_slice()).map_err(|e| DbErr::Custom(format!("legacy entity: {e}")))?;
        let spec = EntitySpec::from_wire(&entity.name, &entity.join_keys, &entity.description);
        let insert = Query::insert()
            .into_table(Alias::new("features_definitions"))
            .columns(
                [
                    "project",
                    "kind",
                    "name",
                    "version",
                    "spec",
                    "origin",
                    "create_time",
                    "update_time",
                ]
                .map(Alias::new),
            )
            .values_panic([
                row.try_get::<String>("", "project")?.into(),
                "entity".into(),
                row.try_get::<String>("", "name")?.into(),
                row.try_get::<i64>("", "version")?.into(),
                serde_json::to_string(&spec).unwrap_or_default().into(),
                "api".into(),
                row.try_get::<chrono::DateTime<chrono::Utc>>("", "create_time")?
                    .into(),
                row.try_get::<chrono::DateTime<chrono::Utc>>("", "update_time")?
                    .into(),
            ])
            .to_owned();
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Intervals of each view already written to the online store.
struct CreateMaterializations;

impl MigrationName for CreateMaterializations {
    fn name(&self) -> &str {
        "m20261129_000003_create_materializations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMaterializations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("features_materializations"))
                    .if_not_exists()
                    .col(col("id").big_integer().not_null().auto_increment().primary_key())
                    .col(col("project").string().not_null())
                    .col(col("view").string().not_null())
                    .col(col("start_us").big_integer().not_null())
                    .col(col("end_us").big_integer().not_null())
                    .col(col("entities").big_integer().not_null())
                    .col(col("completed_time").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("features_materializations_view")
                    .table(Alias::new("features_materializations"))
                    .col(Alias::new("project"))
                    .col(Alias::new("view"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("features_materializations"))
                    .to_owned(),
            )
            .await
    }
}
