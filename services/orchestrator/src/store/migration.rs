//! Migrations of the orchestrator, with their own history table.

use lathe_common::db::schema::{index, table};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePipelines), Box::new(CreateRuns)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("orchestrator_migrations").into_iden()
    }
}

/// The first table of definitions, from before pipelines were YAML with versions. It is kept
/// (a pipeline stored there cannot be expressed as the new definitions say nothing of its
/// kind), and no longer read.
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
            .create_table(lathe_common::definitions::create_table("orchestrator_pipelines"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("orchestrator_pipelines"))
                    .to_owned(),
            )
            .await
    }
}

struct CreateRuns;

impl MigrationName for CreateRuns {
    fn name(&self) -> &str {
        "m20261205_000001_create_pipeline_versions_runs_and_tasks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRuns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use lathe_common::db::schema::Kind::{Big, Blob, Int, Text};
        let tables = [
            table(
                "orchestrator_pipeline_heads",
                &[
                    ("project", Text, false),
                    ("name", Text, false),
                    ("version", Big, false),
                    ("next_fire_time", Big, true),
                    ("last_alert_time", Big, true),
                    ("create_time", Big, false),
                    ("update_time", Big, false),
                ],
                &["project", "name"],
            ),
            table(
                "orchestrator_pipeline_versions",
                &[
                    ("project", Text, false),
                    ("name", Text, false),
                    ("version", Big, false),
                    ("source", Text, false),
                    ("file", Text, false),
                    ("actor", Text, false),
                    ("create_time", Big, false),
                ],
                &["project", "name", "version"],
            ),
            table(
                "orchestrator_runs",
                &[
                    ("id", Text, false),
                    ("project", Text, false),
                    ("pipeline", Text, false),
                    ("pipeline_version", Big, false),
                    ("state", Text, false),
                    ("params", Text, false),
                    ("logical_date", Big, false),
                    ("trigger", Text, false),
                    ("actor", Text, false),
                    ("create_time", Big, false),
                    ("start_time", Big, true),
                    ("end_time", Big, true),
                ],
                &["id"],
            ),
            table(
                "orchestrator_task_instances",
                &[
                    ("run_id", Text, false),
                    ("task_id", Text, false),
                    ("project", Text, false),
                    ("kind", Text, false),
                    ("state", Text, false),
                    ("try_number", Int, false),
                    ("max_tries", Int, false),
                    ("queued_time", Big, true),
                    ("retry_time", Big, true),
                    ("worker", Text, false),
                    ("lease_expires", Big, true),
                    ("start_time", Big, true),
                    ("end_time", Big, true),
                    ("outputs", Text, false),
                    ("message", Text, false),
                ],
                &["run_id", "task_id"],
            ),
            table(
                "orchestrator_task_logs",
                &[
                    ("run_id", Text, false),
                    ("task_id", Text, false),
                    ("try_number", Int, false),
                    ("offset", Big, false),
                    ("data", Blob, false),
                ],
                &["run_id", "task_id", "try_number", "offset"],
            ),
        ];
        for statement in tables {
            manager.create_table(statement).await?;
        }
        let indexes = [
            index(
                "orchestrator_runs",
                "orchestrator_runs_by_time",
                &["project", "create_time"],
            ),
            index(
                "orchestrator_runs",
                "orchestrator_runs_by_pipeline",
                &["project", "pipeline", "create_time"],
            ),
            index("orchestrator_runs", "orchestrator_runs_by_state", &["state"]),
            index(
                "orchestrator_task_instances",
                "orchestrator_tasks_to_claim",
                &["state", "queued_time"],
            ),
        ];
        for statement in indexes {
            manager.create_index(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "orchestrator_task_logs",
            "orchestrator_task_instances",
            "orchestrator_runs",
            "orchestrator_pipeline_versions",
            "orchestrator_pipeline_heads",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
