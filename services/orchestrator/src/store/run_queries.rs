//! The run history: per pipeline, per state, per time range, newest first, paged.

use lathe_common::{Error, Result, reasons};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::tables::run;
use crate::engine::states::RunState;
use lathe_common::paging;

pub struct RunQuery {
    pub project: String,
    pub pipeline: Option<String>,
    pub state: Option<RunState>,
    /// ms, inclusive.
    pub created_after: Option<i64>,
    /// ms, exclusive.
    pub created_before: Option<i64>,
    pub page_size: u32,
    pub page_token: String,
}

/// One page of runs and the token of the next (empty at the end). A token is the last run's
/// `create_time.id`: the next page starts strictly after it in (create_time, id) order.
pub async fn list(db: &DatabaseConnection, query: &RunQuery) -> Result<(Vec<run::Model>, String)> {
    let size = paging::page_size(query.page_size)?;
    let mut select = run::Entity::find().filter(run::Column::Project.eq(query.project.as_str()));
    if let Some(pipeline) = &query.pipeline {
        select = select.filter(run::Column::Pipeline.eq(pipeline.as_str()));
    }
    if let Some(state) = query.state {
        select = select.filter(run::Column::State.eq(state.as_str()));
    }
    if let Some(after) = query.created_after {
        select = select.filter(run::Column::CreateTime.gte(after));
    }
    if let Some(before) = query.created_before {
        select = select.filter(run::Column::CreateTime.lt(before));
    }
    if !query.page_token.is_empty() {
        let (time, id) = query
            .page_token
            .split_once('.')
            .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_owned())))
            .ok_or_else(|| {
                Error::of(
                    reasons::INVALID_PAGE_TOKEN,
                    "page_token: not a token this server issued",
                )
            })?;
        select = select.filter(
            Condition::any().add(run::Column::CreateTime.lt(time)).add(
                Condition::all()
                    .add(run::Column::CreateTime.eq(time))
                    .add(run::Column::Id.lt(id)),
            ),
        );
    }
    let mut rows = select
        .order_by_desc(run::Column::CreateTime)
        .order_by_desc(run::Column::Id)
        .limit(size + 1)
        .all(db)
        .await?;
    let next = if rows.len() as u64 > size {
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        rows.last()
            .map_or(String::new(), |r| format!("{}.{}", r.create_time, r.id))
    } else {
        String::new()
    };
    Ok((rows, next))
}
