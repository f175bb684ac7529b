//! The intervals of each feature view already written to the online store
//! (`features_materializations`), so that a repeated materialization skips them.

use chrono::Utc;
use lathe_common::Result;
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, QueryOrder, Set};

/// `features_materializations`: intervals of each view already written to the online store.
pub mod materialized {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "features_materializations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project: String,
        pub view: String,
        /// Microseconds since the epoch, inclusive.
        pub start_us: i64,
        pub end_us: i64,
        pub entities: i64,
        pub completed_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The record of materialized intervals.
#[derive(Clone)]
pub struct Materializations {
    db: DatabaseConnection,
}

impl Materializations {
    pub fn new(db: DatabaseConnection) -> Self {
        Materializations { db }
    }

    /// The inclusive intervals `(start_us, end_us)` of a view already written, by start.
    pub async fn done(&self, project: &str, view: &str) -> Result<Vec<(i64, i64)>> {
        Ok(materialized::Entity::find()
            .filter(materialized::Column::Project.eq(project))
            .filter(materialized::Column::View.eq(view))
            .order_by_asc(materialized::Column::StartUs)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.start_us, m.end_us))
            .collect())
    }

    /// Records that `[start_us, end_us]` of a view was written, `entities` of them.
    pub async fn record(
        &self,
        project: &str,
        view: &str,
        (start_us, end_us): (i64, i64),
        entities: u64,
    ) -> Result<()> {
        materialized::ActiveModel {
            project: Set(project.to_owned()),
            view: Set(view.to_owned()),
            start_us: Set(start_us),
            end_us: Set(end_us),
            entities: Set(i64::try_from(entities).unwrap_or(i64::MAX)),
            completed_time: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }
}
