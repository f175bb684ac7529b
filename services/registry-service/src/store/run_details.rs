//! The params, tags, latest metrics and model outputs of a page of runs, read in one query.

use std::collections::HashMap;

use lathe_common::{Error, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, IntoTableRef, Query, SelectStatement, TableRef, UnionType};
use sea_orm::{DatabaseConnection, FromQueryResult};

use super::logged_models::run_output;
use super::metrics;
use super::tracking::{latest_metric, run_param, run_tag};

/// What [`read`] returns, by run id.
#[derive(Default)]
pub struct RunDetails {
    pub params: HashMap<String, HashMap<String, String>>,
    pub tags: HashMap<String, HashMap<String, String>>,
    /// Each run's latest metrics, in no particular order.
    pub metrics: HashMap<String, Vec<latest_metric::Model>>,
    /// The logged models each run produced, in no particular order.
    pub outputs: HashMap<String, Vec<run_output::Model>>,
}

/// The params, tags, latest metrics and model outputs of the runs `ids`, in one query (see
/// [`details_query`]) whatever the number of runs.
pub async fn read(db: &DatabaseConnection, ids: &[String]) -> Result<RunDetails> {
    let mut details = RunDetails::default();
    if ids.is_empty() {
        return Ok(details);
    }
    let statement = db.get_database_backend().build(&details_query(ids));
    for detail in RunDetail::find_by_statement(statement).all(db).await? {
        match (detail.kind, detail.text, detail.value) {
            (DETAIL_PARAM, Some(text), _) => {
                details
                    .params
                    .entry(detail.run_id)
                    .or_default()
                    .insert(detail.key, text);
            }
            (DETAIL_TAG, Some(text), _) => {
                details
                    .tags
                    .entry(detail.run_id)
                    .or_default()
                    .insert(detail.key, text);
            }
            (DETAIL_METRIC, nan, Some(value)) => {
                details
                    .metrics
                    .entry(detail.run_id.clone())
                    .or_default()
                    .push(latest_metric::Model {
                        run_id: detail.run_id,
                        key: detail.key,
                        value: metrics::value_of(value, nan.is_some()),
                        is_nan: nan.is_some(),
                        timestamp: detail.timestamp.unwrap_or(0),
                        step: detail.step.unwrap_or(0),
                    });
            }
            (DETAIL_OUTPUT, ..) => {
                details
                    .outputs
                    .entry(detail.run_id.clone())
                    .or_default()
                    .push(run_output::Model {
                        run_id: detail.run_id,
                        model_id: detail.key,
                        step: detail.step.unwrap_or(0),
                    });
            }
            (kind, ..) => {
                return Err(Error::internal(format!(
                    "run detail of kind {kind} for run {} has no value",
                    detail.run_id
                )));
            }
        }
    }
    Ok(details)
}

const DETAIL_PARAM: i32 = 0;
const DETAIL_TAG: i32 = 1;
const DETAIL_METRIC: i32 = 2;
const DETAIL_OUTPUT: i32 = 3;

/// One param, tag, latest metric or model output of a run, as [`details_query`] returns it.
#[derive(FromQueryResult)]
struct RunDetail {
    run_id: String,
    kind: i32,
    key: String,
    /// A param's or tag's value; for a metric, set when its value is NaN.
    text: Option<String>,
    /// A metric's value, step and time.
    value: Option<f64>,
    step: Option<i64>,
    timestamp: Option<i64>,
}

/// The params, tags, latest metrics and model outputs of the runs `ids` as one `UNION ALL`: one
/// round trip instead of four for a page of runs. The NULLs are typed, because PostgreSQL resolves the
/// type of an untyped NULL column of a union's first branches to text before it sees the
/// metrics' numbers.
fn details_query(ids: &[String]) -> SelectStatement {
    let null = |sql_type: &str| Expr::cust(format!("CAST(NULL AS {sql_type})"));
    let branch = |table: TableRef, kind: i32| {
        let mut select = Query::select();
        select
            .column(Alias::new("run_id"))
            .expr_as(Expr::val(kind), Alias::new("kind"))
            .column(Alias::new("key"));
        if kind == DETAIL_METRIC {
            // `text` marks a NaN (stored as 0 with `is_nan` set).
            select
                .expr_as(Expr::cust("CASE WHEN is_nan THEN 'NaN' END"), Alias::new("text"))
                .column(Alias::new("value"))
                .column(Alias::new("step"))
                .column(Alias::new("timestamp"));
        } else {
            select
                .expr_as(Expr::col(Alias::new("value")), Alias::new("text"))
                .expr_as(null("DOUBLE PRECISION"), Alias::new("value"))
                .expr_as(null("BIGINT"), Alias::new("step"))
                .expr_as(null("BIGINT"), Alias::new("timestamp"));
        }
        select
            .from(table)
            .and_where(Expr::col(Alias::new("run_id")).is_in(ids.iter().cloned()));
        select
    };
    let mut query = branch(run_param::Entity.into_table_ref(), DETAIL_PARAM);
    query
        .union(
            UnionType::All,
            branch(run_tag::Entity.into_table_ref(), DETAIL_TAG),
        )
        .union(
            UnionType::All,
            branch(latest_metric::Entity.into_table_ref(), DETAIL_METRIC),
        );
    // A model output: its model id in `key`, its step in `step`.
    let mut outputs = Query::select();
    outputs
        .column(Alias::new("run_id"))
        .expr_as(Expr::val(DETAIL_OUTPUT), Alias::new("kind"))
        .expr_as(Expr::col(Alias::new("model_id")), Alias::new("key"))
        .expr_as(null("TEXT"), Alias::new("text"))
        .expr_as(null("DOUBLE PRECISION"), Alias::new("value"))
        .column(Alias::new("step"))
        .expr_as(null("BIGINT"), Alias::new("timestamp"))
        .from(run_output::Entity)
        .and_where(Expr::col(Alias::new("run_id")).is_in(ids.iter().cloned()));
    query.union(UnionType::All, outputs);
    query
}
