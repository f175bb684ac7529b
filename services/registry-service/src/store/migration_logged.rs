//! MLflow 3's logged models: `registry_logged_models`, `registry_run_outputs`, and the columns a
//! model version gains (`source`, `logged_model_id`). A logged model's files are rows of
//! `registry_artifacts` like a run's, keyed by the logged model's id (`m-…`, which no run id
//! can be).

use sea_orm_migration::prelude::*;

pub struct CreateLoggedModels;

impl MigrationName for CreateLoggedModels {
    fn name(&self) -> &str {
        "m20261205_000006_create_logged_models"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn string(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.string().not_null();
    c
}

fn text(name: &str) -> ColumnDef {
    let mut c = col(name);
    c.text().not_null();
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

const LOGGED_MODELS: &str = "registry_logged_models";
const RUN_OUTPUTS: &str = "registry_run_outputs";
const VERSIONS: &str = "registry_model_versions";

#[async_trait::async_trait]
impl MigrationTrait for CreateLoggedModels {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(LOGGED_MODELS))
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("project"))
                    .col(bigint("experiment_id"))
                    .col(string("name"))
                    .col(string("source_run_id"))
                    .col(string("status"))
                    .col(text("status_message"))
                    .col(string("model_type"))
                    .col(json("params"))
                    .col(json("tags"))
                    .col(bigint("create_time"))
                    .col(bigint("update_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_logged_models_experiment")
                    .table(Alias::new(LOGGED_MODELS))
                    .if_not_exists()
                    .col(Alias::new("experiment_id"))
                    .col(Alias::new("create_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(RUN_OUTPUTS))
                    .if_not_exists()
                    .col(string("run_id"))
                    .col(string("model_id"))
                    .col(bigint("step"))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("run_id"))
                            .col(Alias::new("model_id"))
                            .col(Alias::new("step")),
                    )
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in ["source", "logged_model_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(VERSIONS))
                        .add_column(col(column).text().not_null().default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["logged_model_id", "source"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(VERSIONS))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        for table in [RUN_OUTPUTS, LOGGED_MODELS] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
