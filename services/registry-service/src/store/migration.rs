//! Migrations of the registry-service, recorded in their own history table so services can
//! share one database.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateProjects),
            Box::new(CreateTrackingAndModels),
            Box::new(StageIndexLeadsWithStage),
            Box::new(CreateProjectTombstones),
            Box::new(AddMetricNanFlags),
            Box::new(super::migration_logged::CreateLoggedModels),
            Box::new(MetricOrderIndexes),
        ]
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

struct CreateTrackingAndModels;

impl MigrationName for CreateTrackingAndModels {
    fn name(&self) -> &str {
        "m20261129_000002_create_tracking_and_models"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn id_col(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.big_integer().not_null().auto_increment().primary_key();
    c
}

fn text(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.text().not_null();
    c
}

fn string(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.string().not_null();
    c
}

fn bigint(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.big_integer().not_null();
    c
}

fn json(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.json().not_null();
    c
}

fn time(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.timestamp_with_time_zone().not_null();
    c
}

fn table(name: &str) -> TableCreateStatement {
    Table::create().table(Alias::new(name)).if_not_exists().to_owned()
}

fn pk(columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    for c in columns {
        index.col(Alias::new(*c));
    }
    index.to_owned()
}

fn index(table: &str, name: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table)).if_not_exists();
    for c in columns {
        index.col(Alias::new(*c));
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTrackingAndModels {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            table("registry_experiments")
                .col(id_col("id"))
                .col(string("project"))
                .col(string("name"))
                .col(string("lifecycle_stage"))
                .col(json("tags"))
                .col(text("artifact_location"))
                .col(time("create_time"))
                .col(time("update_time"))
                .to_owned(),
            table("registry_runs")
                .col(string("id").primary_key())
                .col(string("project"))
                .col(bigint("experiment_id"))
                .col(string("name"))
                .col(string("status"))
                .col(bigint("start_time"))
                .col(col("end_time").big_integer().null())
                .col(string("user_id"))
                .col(string("lifecycle_stage"))
                .col(text("artifact_uri"))
                .to_owned(),
            table("registry_run_params")
                .col(string("run_id"))
                .col(string("key"))
                .col(text("value"))
                .primary_key(&mut pk(&["run_id", "key"]))
                .to_owned(),
            table("registry_run_tags")
                .col(string("run_id"))
                .col(string("key"))
                .col(text("value"))
                .primary_key(&mut pk(&["run_id", "key"]))
                .to_owned(),
            table("registry_metric_history")
                .col(id_col("id"))
                .col(string("run_id"))
                .col(string("key"))
                .col(bigint("step"))
                .col(bigint("timestamp"))
                .col(col("value").double().not_null())
                .to_owned(),
            table("registry_latest_metrics")
                .col(string("run_id"))
                .col(string("key"))
                .col(bigint("step"))
                .col(bigint("timestamp"))
                .col(col("value").double().not_null())
                .primary_key(&mut pk(&["run_id", "key"]))
                .to_owned(),
            table("registry_artifacts")
                .col(string("run_id"))
                .col(string("path"))
                .col(bigint("size"))
                .col(string("sha256"))
                .col(time("create_time"))
                .primary_key(&mut pk(&["run_id", "path"]))
                .to_owned(),
            table("registry_models")
                .col(id_col("id"))
                .col(string("project"))
                .col(string("name"))
                .col(text("description"))
                .col(json("tags"))
                .col(json("policies"))
                .col(bigint("last_version"))
                .col(time("create_time"))
                .col(time("update_time"))
                .to_owned(),
            table("registry_model_versions")
                .col(bigint("model_id"))
                .col(bigint("version"))
                .col(string("stage"))
                .col(text("description"))
                .col(json("tags"))
                .col(string("run_id"))
                .col(text("artifact_uri"))
                .col(string("artifact_sha256"))
                .col(json("metrics"))
                .col(json("signature"))
                .col(json("lineage"))
                .col(string("created_by"))
                .col(time("create_time"))
                .col(time("update_time"))
                .primary_key(&mut pk(&["model_id", "version"]))
                .to_owned(),
            table("registry_aliases")
                .col(bigint("model_id"))
                .col(string("alias"))
                .col(bigint("version"))
                .primary_key(&mut pk(&["model_id", "alias"]))
                .to_owned(),
            table("registry_audit_events")
                .col(id_col("id"))
                .col(bigint("model_id"))
                .col(bigint("version"))
                .col(string("action"))
                .col(string("from_value"))
                .col(string("to_value"))
                .col(string("actor"))
                .col(text("reason"))
                .col(time("time"))
                .to_owned(),
            table("registry_lineage")
                .col(bigint("model_id"))
                .col(bigint("version"))
                .col(string("kind"))
                .col(string("value"))
                .primary_key(&mut pk(&["model_id", "version", "kind", "value"]))
                .to_owned(),
            table("registry_pending_deletions")
                .col(id_col("id"))
                .col(text("prefix"))
                .col(time("create_time"))
                .to_owned(),
        ];
        for statement in tables {
            manager.create_table(statement).await?;
        }
        let indexes = [
            index(
                "registry_experiments",
                "registry_experiments_project_name",
                &["project", "name"],
                true,
            ),
            index(
                "registry_runs",
                "registry_runs_experiment",
                &["experiment_id", "start_time"],
                false,
            ),
            index(
                "registry_metric_history",
                "registry_metric_history_run_key",
                &["run_id", "key", "step"],
                false,
            ),
            index(
                "registry_latest_metrics",
                "registry_latest_metrics_key_value",
                &["key", "value"],
                false,
            ),
            index(
                "registry_models",
                "registry_models_project_name",
                &["project", "name"],
                true,
            ),
            index(
                "registry_model_versions",
                "registry_model_versions_stage",
                &["model_id", "stage", "version"],
                false,
            ),
            index(
                "registry_audit_events",
                "registry_audit_events_model",
                &["model_id", "id"],
                false,
            ),
            index(
                "registry_lineage",
                "registry_lineage_kind_value",
                &["kind", "value"],
                false,
            ),
        ];
        for statement in indexes {
            manager.create_index(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "registry_pending_deletions",
            "registry_lineage",
            "registry_audit_events",
            "registry_aliases",
            "registry_model_versions",
            "registry_models",
            "registry_artifacts",
            "registry_latest_metrics",
            "registry_metric_history",
            "registry_run_tags",
            "registry_run_params",
            "registry_runs",
            "registry_experiments",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The versions' stage index leads with the stage: `(stage, model_id, version)` instead of
/// `(model_id, stage, version)`. Both serve "the newest version of a model in a stage" as a
/// single index probe, but the old one also matched a lookup of one version by its key
/// `(model_id, version)`, and PostgreSQL, on tables without statistics, chose it over the
/// primary key and walked every index entry of the model: a read that grew with the version
/// count.
struct StageIndexLeadsWithStage;

impl MigrationName for StageIndexLeadsWithStage {
    fn name(&self) -> &str {
        "m20261130_000003_stage_index_leads_with_stage"
    }
}

const VERSIONS: &str = "registry_model_versions";

/// Drops the versions' index `old` and creates `new` on `columns` in its place.
async fn replace_versions_index(
    manager: &SchemaManager<'_>,
    old: &str,
    new: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(old).table(Alias::new(VERSIONS)).to_owned())
        .await?;
    manager.create_index(index(VERSIONS, new, columns, false)).await
}

#[async_trait::async_trait]
impl MigrationTrait for StageIndexLeadsWithStage {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_versions_index(
            manager,
            "registry_model_versions_stage",
            "registry_model_versions_by_stage",
            &["stage", "model_id", "version"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_versions_index(
            manager,
            "registry_model_versions_by_stage",
            "registry_model_versions_stage",
            &["model_id", "stage", "version"],
        )
        .await
    }
}

/// `registry_project_tombstones`: a row per (deleted project, service still to purge its
/// data), so a re-created name never shows the data of the project deleted before it.
struct CreateProjectTombstones;

impl MigrationName for CreateProjectTombstones {
    fn name(&self) -> &str {
        "m20261201_000004_create_project_tombstones"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProjectTombstones {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("registry_project_tombstones")
                    .col(string("project"))
                    .col(string("service"))
                    .col(time("create_time"))
                    .primary_key(&mut pk(&["project", "service"]))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("registry_project_tombstones"))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// `is_nan` on the metric tables: MLflow logs NaN losses, and SQLite reads a stored NaN back as
/// NULL, so a NaN is stored as 0 with the flag set.
struct AddMetricNanFlags;

impl MigrationName for AddMetricNanFlags {
    fn name(&self) -> &str {
        "m20261205_000005_add_metric_nan_flags"
    }
}

const METRIC_TABLES: [&str; 2] = ["registry_metric_history", "registry_latest_metrics"];

#[async_trait::async_trait]
impl MigrationTrait for AddMetricNanFlags {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in METRIC_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(name))
                        .add_column(
                            ColumnDef::new(Alias::new("is_nan"))
                                .boolean()
                                .not_null()
                                .default(false),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in METRIC_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(name))
                        .drop_column(Alias::new("is_nan"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Indexes that hand out one metric's runs in the order a search sorts them, value then run
/// id ascending, in either direction: a page sorted by `metrics.X` reads its rows from one of
/// them instead of sorting every run (`run_search`). A backward read of the ascending one
/// would give the ties in descending run id, hence one index per direction. `is_nan` comes
/// last so the NaN rows are skipped in the index itself.
struct MetricOrderIndexes;

impl MigrationName for MetricOrderIndexes {
    fn name(&self) -> &str {
        "m20261206_000007_metric_order_indexes"
    }
}

const LATEST_METRICS: &str = "registry_latest_metrics";
const METRIC_ORDER_ASC: &str = "registry_latest_metrics_key_value_run";
const METRIC_ORDER_DESC: &str = "registry_latest_metrics_key_value_desc_run";

#[async_trait::async_trait]
impl MigrationTrait for MetricOrderIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, order) in [
            (METRIC_ORDER_ASC, IndexOrder::Asc),
            (METRIC_ORDER_DESC, IndexOrder::Desc),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new(LATEST_METRICS))
                        .if_not_exists()
                        .col(Alias::new("key"))
                        .col((Alias::new("value"), order))
                        .col(Alias::new("run_id"))
                        .col(Alias::new("is_nan"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [METRIC_ORDER_ASC, METRIC_ORDER_DESC] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Alias::new(LATEST_METRICS))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
