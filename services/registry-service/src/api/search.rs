//! The checks of a run search request: its filter and order-by clauses parsed, its lists and
//! page bounded, so that every query it becomes is one the database runs.

use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::registry::v1 as pb;

use crate::domain::filter;
use crate::domain::states::view_stage;
use crate::paging::{decode_token, page_size};
use crate::store::run_search::RunSearch;

/// The most experiment ids one search may name; each is one bound SQL parameter, so with the
/// filter's own limits ([`filter::MAX_FILTER_VALUES`]) a query stays far below SQLite's 32,766.
pub const MAX_EXPERIMENT_IDS: usize = 1_000;

fn bad_filter(err: filter::FilterError) -> Error {
    Error::invalid(err.to_string()).with_reason(reasons::INVALID_FILTER)
}

/// Parses and bounds a request, so that every query it builds is one the database runs.
pub fn run_search(request: &pb::SearchRunsRequest) -> Result<RunSearch<'_>> {
    let filter = filter::parse_filter(&request.filter).map_err(bad_filter)?;
    if request.order_by.len() > filter::MAX_ORDER_BY_CLAUSES {
        return Err(Error::invalid(format!(
            "a search may have at most {} order-by clauses; this one has {}",
            filter::MAX_ORDER_BY_CLAUSES,
            request.order_by.len()
        ))
        .with_reason(reasons::INVALID_FILTER));
    }
    let orders = request
        .order_by
        .iter()
        .map(|text| filter::parse_order_by(text).map_err(bad_filter))
        .collect::<Result<Vec<_>>>()?;
    if request.experiment_ids.len() > MAX_EXPERIMENT_IDS {
        return Err(Error::invalid(format!(
            "experiment_ids: a search may name at most {MAX_EXPERIMENT_IDS} experiments; this one names {}",
            request.experiment_ids.len()
        )));
    }
    let experiment_ids = request
        .experiment_ids
        .iter()
        .map(|id| {
            id.parse::<i64>()
                .map_err(|_| Error::invalid(format!("experiment_ids: '{id}' is not an experiment id")))
        })
        .collect::<Result<Vec<_>>>()?;
    let limit = page_size(request.page_size)?;
    let offset = std::cmp::max(decode_token(&request.page_token)?.unwrap_or(0), 0);
    Ok(RunSearch {
        project: &request.project,
        experiment_ids,
        stage: view_stage(request.view)?,
        filter,
        orders,
        limit,
        offset: u64::try_from(offset).unwrap_or(0),
    })
}
