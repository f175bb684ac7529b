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
            Box::new(CreateMaterializationRuns),
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

/// One row per materialization run, for the state of each view; existing databases get, per
/// view, a run made of its latest recorded interval (its row count unknown).
struct CreateMaterializationRuns;

impl MigrationName for CreateMaterializationRuns {
    fn name(&self) -> &str {
        "m20261205_000004_create_materialization_runs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMaterializationRuns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let runs = Alias::new("features_materialization_runs");
        manager
            .create_table(
                Table::create()
                    .table(runs.clone())
                    .if_not_exists()
                    .col(col("id").big_integer().not_null().auto_increment().primary_key())
                    .col(col("project").string().not_null())
                    .col(col("view").string().not_null())
                    .col(col("start_us").big_integer().not_null())
                    .col(col("end_us").big_integer().not_null())
                    .col(col("rows_scanned").big_integer().null())
                    .col(col("entities").big_integer().not_null())
                    .col(col("run_time").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("features_materialization_runs_view")
                    .table(runs.clone())
                    .col(Alias::new("project"))
                    .col(Alias::new("view"))
                    .to_owned(),
            )
            .await?;
        // The intervals of one earlier run were recorded one by one with nothing tying them
        // together: the latest interval of a view stands for its last run.
        let intervals = Alias::new("features_materializations");
        let latest = Query::select()
            .expr(Expr::col(Alias::new("id")).max())
            .from(intervals.clone())
            .group_by_columns([Alias::new("project"), Alias::new("view")])
            .to_owned();
        let moved = Query::select()
            .columns(
                [
                    "project",
                    "view",
                    "start_us",
                    "end_us",
                    "entities",
                    "completed_time",
                ]
                .map(Alias::new),
            )
            .from(intervals)
            .and_where(Expr::col(Alias::new("id")).in_subquery(latest))
            .to_owned();
        let insert = Query::insert()
            .into_table(runs)
            .columns(["project", "view", "start_us", "end_us", "entities", "run_time"].map(Alias::new))
            .select_from(moved)
            .map_err(|e| DbErr::Custom(format!("materialization runs: {e}")))?
            .to_owned();
        manager.get_connection().execute(&insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("features_materialization_runs"))
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::Utc;
    use lathe_common::config::DatabaseSettings;
    use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
    use sea_orm_migration::MigratorTrait;

    use super::Migrator;
    use crate::store::materializations::{Materializations, RunRecord, ViewState, materialized};

    /// A database at the schema before runs were recorded, holding intervals, migrated to the
    /// latest: each view's latest interval stands for its last run; new runs then record theirs.
    async fn intervals_recorded_before_runs_become_each_views_last_run(db: &DatabaseConnection) {
        Migrator::up(db, Some(3)).await.unwrap();
        for (project, view, start_us, end_us, entities) in [
            ("p", "a", 0, 9, 5),
            ("p", "a", 10, 19, 7),
            ("p", "b", 0, 4, 3),
            ("other", "a", 0, 99, 1),
        ] {
            materialized::ActiveModel {
                project: Set(project.to_owned()),
                view: Set(view.to_owned()),
                start_us: Set(start_us),
                end_us: Set(end_us),
                entities: Set(entities),
                completed_time: Set(Utc::now()),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap();
        }
        Migrator::up(db, None).await.unwrap();
        let store = Materializations::new(db.clone());
        let last = |states: &HashMap<String, ViewState>, view: &str| {
            let state = &states[view];
            let run = state.last_run.as_ref().unwrap();
            (
                run.start_us,
                run.end_us,
                run.rows_scanned,
                run.entities,
                state.materialized_until_us,
            )
        };
        let states = store.states("p").await.unwrap();
        assert_eq!(states.len(), 2);
        assert_eq!(last(&states, "a"), (10, 19, None, 7, Some(19)));
        assert_eq!(last(&states, "b"), (0, 4, None, 3, Some(4)));

        let run = RunRecord {
            interval: (15, 29),
            rows_scanned: 100,
            entities: 4,
        };
        store.record("p", "a", &[(20, 29)], run).await.unwrap();
        let states = store.states("p").await.unwrap();
        assert_eq!(last(&states, "a"), (15, 29, Some(100), 4, Some(29)));
        assert_eq!(store.done("p", "a").await.unwrap(), [(0, 9), (10, 19), (20, 29)]);
        assert_eq!(
            last(&store.states("other").await.unwrap(), "a"),
            (0, 99, None, 1, Some(99))
        );
    }

    #[tokio::test]
    async fn existing_sqlite_databases_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/features.db", dir.path().display());
        let db = lathe_common::db::connect(&url, &DatabaseSettings::default(), "test.database")
            .await
            .unwrap();
        intervals_recorded_before_runs_become_each_views_last_run(&db).await;
    }

    #[tokio::test]
    async fn existing_postgres_databases_migrate() {
        let Some(pg) = lathe_testkit::PgDatabase::create().await else {
            return;
        };
        let db = lathe_common::db::connect(&pg.url, &DatabaseSettings::default(), "test.database")
            .await
            .unwrap();
        intervals_recorded_before_runs_become_each_views_last_run(&db).await;
        db.close().await.unwrap();
    }
}
