//! Tables of the model registry.

/// `registry_models`: one row per registered model; `last_version` only grows, so version
/// numbers are never reused.
pub mod model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_models")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project: String,
        pub name: String,
        pub description: String,
        pub tags: Json,
        /// Promotion policies, JSON of [`crate::domain::gates::Policy`].
        pub policies: Json,
        pub last_version: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_model_versions`.
pub mod version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_model_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// None, Staging, Production or Archived.
        pub stage: String,
        pub description: String,
        pub tags: Json,
        pub run_id: String,
        pub artifact_uri: String,
        pub artifact_sha256: String,
        pub metrics: Json,
        pub signature: Json,
        pub lineage: Json,
        pub created_by: String,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
        /// What the version was created from, as given (`runs:/…`, `models:/m-…`).
        pub source: String,
        /// The logged model it was registered from; empty for one from a run's artifact.
        pub logged_model_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_aliases`: one version per (model, alias).
pub mod alias {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_aliases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub alias: String,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_audit_events`: who moved what, when, from where to where, and why.
pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub model_id: i64,
        pub version: i64,
        pub action: String,
        pub from_value: String,
        pub to_value: String,
        pub actor: String,
        pub reason: String,
        pub time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_lineage`: what a version was trained on, indexed for reverse lookups.
pub mod lineage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_lineage")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// feature_view, feature_service, training_dataset or orchestrator_run.
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `registry_pending_deletions`: object-store prefixes to remove, written in the same
/// transaction that deletes their rows, so a crash never orphans artifacts.
pub mod pending_deletion {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_pending_deletions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub prefix: String,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A version's `signature` column: the features it reads and what it outputs.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct StoredSignature {
    pub inputs: Vec<String>,
    pub output: String,
    /// Serving's value for an input the online store lacks, by input.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub defaults: std::collections::BTreeMap<String, f64>,
}

/// A version's `lineage` column: what it was trained on (indexed in `registry_lineage`).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct StoredLineage {
    pub feature_views: Vec<String>,
    pub feature_service: String,
    pub training_dataset: String,
    pub orchestrator_run: String,
}
