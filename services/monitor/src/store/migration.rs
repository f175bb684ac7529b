//! Migrations of the monitor, with their own history table.

use lathe_common::db::schema::{index, table};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateMonitors), Box::new(CreateWindows)]
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

struct CreateWindows;

impl MigrationName for CreateWindows {
    fn name(&self) -> &str {
        "m20261205_000001_create_references_batches_labels_windows_alerts"
    }
}

const TABLES: [&str; 5] = [
    "monitor_references",
    "monitor_batches",
    "monitor_labels",
    "monitor_windows",
    "monitor_alerts",
];

#[async_trait::async_trait]
impl MigrationTrait for CreateWindows {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use lathe_common::db::schema::Kind::{Big, Blob, Double, Int, Text};
        let tables = [
            table(
                TABLES[0],
                &[
                    ("project", Text, false),
                    ("monitor", Text, false),
                    ("path", Text, false),
                    ("reference", Blob, false),
                    ("create_time", Big, false),
                ],
                &["project", "monitor"],
            ),
            table(
                TABLES[1],
                &[
                    ("id", Text, false),
                    ("project", Text, false),
                    ("monitor", Text, false),
                    ("window_start", Big, false),
                    ("window_end", Big, false),
                    ("path", Text, false),
                    ("rows", Big, false),
                    ("create_time", Big, false),
                ],
                &["id"],
            ),
            table(
                TABLES[2],
                &[
                    ("project", Text, false),
                    ("monitor", Text, false),
                    ("prediction_id", Text, false),
                    ("number", Double, true),
                    ("text", Text, true),
                    ("create_time", Big, false),
                ],
                &["project", "monitor", "prediction_id"],
            ),
            table(
                TABLES[3],
                &[
                    ("project", Text, false),
                    ("monitor", Text, false),
                    ("window_start", Big, false),
                    ("window_end", Big, false),
                    ("state", Text, false),
                    ("claim_time", Big, false),
                    ("result", Blob, true),
                    ("report", Blob, true),
                    ("checked_at", Big, true),
                ],
                &["project", "monitor", "window_start"],
            ),
            table(
                TABLES[4],
                &[
                    ("id", Text, false),
                    ("project", Text, false),
                    ("monitor", Text, false),
                    ("window_start", Big, false),
                    ("create_time", Big, false),
                    ("alert", Blob, false),
                    ("webhook_state", Int, false),
                    ("webhook_attempts", Int, false),
                    ("webhook_error", Text, false),
                    ("webhook_next", Big, true),
                    ("runs", Text, false),
                    ("trigger_error", Text, false),
                    ("notify_attempts", Int, false),
                    ("notify_next", Big, true),
                ],
                &["id"],
            ),
        ];
        for statement in tables {
            manager.create_table(statement).await?;
        }
        let indexes = [
            index(
                TABLES[1],
                "monitor_batches_by_window",
                &["project", "monitor", "window_start"],
            ),
            index(
                TABLES[4],
                "monitor_alerts_by_monitor",
                &["project", "monitor", "create_time"],
            ),
            index(TABLES[4], "monitor_alerts_by_webhook", &["webhook_next"]),
            index(TABLES[4], "monitor_alerts_by_notify", &["notify_next"]),
        ];
        for statement in indexes {
            manager.create_index(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(Alias::new(*name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
