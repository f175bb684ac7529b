//! Tables of experiment tracking.

/// `registry_experiments`: one row per experiment; names are unique per project.
pub mod experiment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_experiments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project: String,
        pub name: String,
        /// `active` or `deleted`.
        pub lifecycle_stage: String,
        pub tags: Json,
        pub artifact_location: String,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_runs`: one row per run.
pub mod run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project: String,
        pub experiment_id: i64,
        pub name: String,
        /// RUNNING, FINISHED, FAILED, KILLED or SCHEDULED.
        pub status: String,
        /// Milliseconds since the epoch.
        pub start_time: i64,
        pub end_time: Option<i64>,
        pub user_id: String,
        pub lifecycle_stage: String,
        pub artifact_uri: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_run_params`: params are write-once per (run, key).
pub mod run_param {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_run_params")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_run_tags`: mutable per (run, key).
pub mod run_tag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_run_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_metric_history`: every logged (step, timestamp, value).
pub mod metric_history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_metric_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub run_id: String,
        pub key: String,
        pub step: i64,
        pub timestamp: i64,
        /// 0 when `is_nan`: SQLite cannot store a NaN (it reads back as NULL).
        pub value: f64,
        pub is_nan: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_latest_metrics`: the latest value per (run, key), kept on write so reads and
/// searches never scan the history.
pub mod latest_metric {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_latest_metrics")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub step: i64,
        pub timestamp: i64,
        /// 0 when `is_nan`: SQLite cannot store a NaN (it reads back as NULL).
        pub value: f64,
        pub is_nan: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_artifacts`: every committed artifact file of a run, with its sha256.
pub mod artifact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_artifacts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub path: String,
        pub size: i64,
        pub sha256: String,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
