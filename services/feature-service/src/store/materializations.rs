//! What was materialized into the online store: the intervals of each feature view already
//! written (`features_materializations`), so that a repeated materialization skips them, and
//! one row per run that wrote something (`features_materialization_runs`), recorded in the same
//! transaction, for the state of each view.

use std::collections::HashMap;

use chrono::Utc;
use lathe_common::Result;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Query;
use sea_orm::{DatabaseConnection, QueryOrder, QuerySelect, Set, TransactionTrait};

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

/// `features_materialization_runs`: one row per run of a view that wrote an interval not done
/// before.
pub mod runs {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "features_materialization_runs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project: String,
        pub view: String,
        /// The interval the run asked for, microseconds since the epoch, inclusive.
        pub start_us: i64,
        pub end_us: i64,
        /// `None` for a run recorded before the counts were kept (moved over by the migration).
        pub rows_scanned: Option<i64>,
        pub entities: i64,
        pub run_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What one run of a view wrote: the interval it asked for and its counts.
#[derive(Clone, Copy, Debug)]
pub struct RunRecord {
    /// Inclusive, microseconds since the epoch.
    pub interval: (i64, i64),
    pub rows_scanned: u64,
    pub entities: u64,
}

/// The materialization state of one view.
#[derive(Clone, Debug, Default)]
pub struct ViewState {
    /// The last run that wrote something.
    pub last_run: Option<runs::Model>,
    /// The latest event time materialized, over every interval written (microseconds).
    pub materialized_until_us: Option<i64>,
}

/// The record of materialized intervals and runs.
#[derive(Clone)]
pub struct Materializations {
    db: DatabaseConnection,
}

fn stored_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

    /// Records that the `gaps` (inclusive intervals) of a view were written by one run, and the
    /// run itself, in one transaction: the state a reader sees always matches the intervals
    /// that the next run will skip.
    pub async fn record(&self, project: &str, view: &str, gaps: &[(i64, i64)], run: RunRecord) -> Result<()> {
        let now = Utc::now();
        let txn = lathe_common::db::begin_write(&self.db).await?;
        for &(start_us, end_us) in gaps {
            materialized::ActiveModel {
                project: Set(project.to_owned()),
                view: Set(view.to_owned()),
                start_us: Set(start_us),
                end_us: Set(end_us),
                entities: Set(stored_count(run.entities)),
                completed_time: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        runs::ActiveModel {
            project: Set(project.to_owned()),
            view: Set(view.to_owned()),
            start_us: Set(run.interval.0),
            end_us: Set(run.interval.1),
            rows_scanned: Set(Some(stored_count(run.rows_scanned))),
            entities: Set(stored_count(run.entities)),
            run_time: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The state of every view of the project that was ever materialized, by view name.
    pub async fn states(&self, project: &str) -> Result<HashMap<String, ViewState>> {
        // One consistent snapshot of both tables, which a run writes together.
        let txn = self.db.begin().await?;
        let latest_ids = Query::select()
            .expr(runs::Column::Id.max())
            .from(runs::Entity)
            .and_where(runs::Column::Project.eq(project))
            .group_by_col(runs::Column::View)
            .to_owned();
        let last_runs = runs::Entity::find()
            .filter(runs::Column::Id.in_subquery(latest_ids))
            .all(&txn)
            .await?;
        let until: Vec<(String, Option<i64>)> = materialized::Entity::find()
            .select_only()
            .column(materialized::Column::View)
            .column_as(materialized::Column::EndUs.max(), "until")
            .filter(materialized::Column::Project.eq(project))
            .group_by(materialized::Column::View)
            .into_tuple()
            .all(&txn)
            .await?;
        txn.commit().await?;
        let mut states: HashMap<String, ViewState> = HashMap::new();
        for run in last_runs {
            let view = run.view.clone();
            states.entry(view).or_default().last_run = Some(run);
        }
        for (view, until) in until {
            states.entry(view).or_default().materialized_until_us = until;
        }
        Ok(states)
    }
}
