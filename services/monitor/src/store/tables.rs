//! The monitor's tables beside the monitor definitions. Times are milliseconds since the
//! epoch; results, reports and alerts are kept as their encoded contract messages.

/// `monitor_references`: each monitor's current reference sample, a Parquet file.
pub mod reference {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "monitor_references")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub monitor: String,
        /// Object store path of the Parquet file.
        pub path: String,
        /// The encoded `Reference`.
        pub reference: Vec<u8>,
        pub create_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `monitor_batches`: one row per stored file of logged rows; a file holds one batch's rows
/// of one window. Rows count once their batch's row is committed.
pub mod batch {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "monitor_batches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project: String,
        pub monitor: String,
        pub window_start: i64,
        pub window_end: i64,
        pub path: String,
        pub rows: i64,
        pub create_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `monitor_labels`: ground truth by prediction id.
pub mod label {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "monitor_labels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub monitor: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub prediction_id: String,
        pub number: Option<f64>,
        pub text: Option<String>,
        pub create_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `monitor_windows`: one row per window being checked or checked.
pub mod window {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "monitor_windows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub monitor: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub window_start: i64,
        pub window_end: i64,
        /// `checking` (claimed by a sweeper at `claim_time`) or `done`.
        pub state: String,
        pub claim_time: i64,
        /// The encoded `WindowResult` and `Report` once done.
        pub result: Option<Vec<u8>>,
        pub report: Option<Vec<u8>>,
        pub checked_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `monitor_alerts`: alerts, with what is left to deliver.
pub mod alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "monitor_alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project: String,
        pub monitor: String,
        pub window_start: i64,
        pub create_time: i64,
        /// The encoded `Alert` as raised; deliveries are the columns below.
        pub alert: Vec<u8>,
        /// A `DeliveryState` value.
        pub webhook_state: i32,
        pub webhook_attempts: i32,
        pub webhook_error: String,
        /// When the webhook is next tried; `None` when nothing is left to post.
        pub webhook_next: Option<i64>,
        /// JSON array of `{pipeline, run_id}` the orchestrator answered.
        #[sea_orm(column_type = "Text")]
        pub runs: String,
        pub trigger_error: String,
        pub notify_attempts: i32,
        /// When the orchestrator is next told; `None` when done or not needed.
        pub notify_next: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
