//! The orchestrator's tables. Times are milliseconds since the epoch.

/// `orchestrator_pipelines`: one row per pipeline, pointing at its current version.
pub mod pipeline {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_pipeline_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub version: i64,
        /// When the schedule next fires; `None` without a schedule.
        pub next_fire_time: Option<i64>,
        /// The last run an alert started, for the cooldown.
        pub last_alert_time: Option<i64>,
        pub create_time: i64,
        pub update_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `orchestrator_pipeline_versions`: every applied version of every pipeline, kept for the
/// runs that name it.
pub mod pipeline_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_pipeline_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// The YAML document as applied.
        #[sea_orm(column_type = "Text")]
        pub source: String,
        pub file: String,
        pub actor: String,
        pub create_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `orchestrator_runs`: one row per run.
pub mod run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project: String,
        pub pipeline: String,
        pub pipeline_version: i64,
        /// queued, running, success, failed or cancelled.
        pub state: String,
        /// JSON object of the parameter values.
        #[sea_orm(column_type = "Text")]
        pub params: String,
        pub logical_date: i64,
        pub trigger: String,
        pub actor: String,
        pub create_time: i64,
        pub start_time: Option<i64>,
        pub end_time: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `orchestrator_task_instances`: one row per task of a run.
pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_task_instances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: String,
        pub project: String,
        pub kind: String,
        /// pending, scheduled, queued, running, success, failed, up_for_retry, skipped or
        /// upstream_failed.
        pub state: String,
        /// Tries started so far (the running one included).
        pub try_number: i32,
        pub max_tries: i32,
        /// When it was queued: workers claim the oldest first.
        pub queued_time: Option<i64>,
        /// When an up_for_retry task may be claimed again.
        pub retry_time: Option<i64>,
        pub worker: String,
        /// The running try belongs to `worker` until then; the worker's heartbeat extends it.
        pub lease_expires: Option<i64>,
        pub start_time: Option<i64>,
        pub end_time: Option<i64>,
        /// JSON object; empty before success.
        #[sea_orm(column_type = "Text")]
        pub outputs: String,
        #[sea_orm(column_type = "Text")]
        pub message: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `orchestrator_task_logs`: the log of a running try, in chunks as the worker reads them, so
/// it can be followed from anywhere; moved to the object store when the try ends.
pub mod log_chunk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_task_logs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub try_number: i32,
        /// Byte offset of the chunk in the try's log.
        #[sea_orm(primary_key, auto_increment = false)]
        pub offset: i64,
        pub data: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
