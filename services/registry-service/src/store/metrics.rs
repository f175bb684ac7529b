//! Metrics, params and tags of runs: the rows of a log-batch, a metric's history and a run's
//! latest values.

use std::collections::{BTreeMap, HashMap};

use lathe_common::reasons;
use lathe_common::{Error, Result, db};
use lathe_contract::registry::v1 as pb;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::tracking::{latest_metric, metric_history, run_param, run_tag};
use super::unique_violation;

/// The rows of one log-batch, written in `txn`: new params (a changed one is refused), tags
/// (last value wins) and deleted tags, metric history and each key's latest value.
pub async fn log_batch(
    txn: &DatabaseTransaction,
    run_id: &str,
    request: &pb::LogBatchRequest,
    metrics: &[pb::Metric],
) -> Result<()> {
    if !request.params.is_empty() {
        let keys: Vec<&str> = request.params.iter().map(|p| p.key.as_str()).collect();
        let existing: HashMap<String, String> = run_param::Entity::find()
            .filter(run_param::Column::RunId.eq(run_id))
            .filter(run_param::Column::Key.is_in(keys))
            .all(txn)
            .await?
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect();
        let mut fresh = Vec::new();
        for p in &request.params {
            match existing.get(&p.key) {
                Some(old) if old != &p.value => {
                    return Err(Error::invalid(format!(
                        "param '{}' was already logged as '{old}'; params cannot change (log '{}' under a new key)",
                        p.key, p.value
                    ))
                    .with_reason(reasons::PARAM_CHANGED));
                }
                Some(_) => {}
                None => fresh.push(run_param::ActiveModel {
                    run_id: Set(run_id.to_owned()),
                    key: Set(p.key.clone()),
                    value: Set(p.value.clone()),
                }),
            }
        }
        if !fresh.is_empty() {
            // A concurrent batch may have logged one of these keys since the read: run
            // again, to compare with what it logged.
            run_param::Entity::insert_many(fresh)
                .exec(txn)
                .await
                .map_err(|err| {
                    if unique_violation(&err) {
                        db::write_conflict(&err)
                    } else {
                        Error::from(err)
                    }
                })?;
        }
    }

    // Last tag value in the batch wins; rows go in key order so that concurrent batches lock
    // them in the same order and cannot deadlock.
    let tags: BTreeMap<&str, &str> = request
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    if !tags.is_empty() {
        run_tag::Entity::insert_many(tags.iter().map(|(k, v)| run_tag::ActiveModel {
            run_id: Set(run_id.to_owned()),
            key: Set((*k).to_owned()),
            value: Set((*v).to_owned()),
        }))
        .on_conflict(
            OnConflict::columns([run_tag::Column::RunId, run_tag::Column::Key])
                .update_column(run_tag::Column::Value)
                .to_owned(),
        )
        .exec(txn)
        .await?;
    }

    for key in &request.delete_tags {
        let deleted = run_tag::Entity::delete_many()
            .filter(run_tag::Column::RunId.eq(run_id))
            .filter(run_tag::Column::Key.eq(key.as_str()))
            .exec(txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::of(
                reasons::RUN_TAG_NOT_FOUND,
                format!("run '{run_id}' has no tag '{key}' to delete"),
            ));
        }
    }

    if !metrics.is_empty() {
        metric_history::Entity::insert_many(metrics.iter().map(|m| metric_history::ActiveModel {
            run_id: Set(run_id.to_owned()),
            key: Set(m.key.clone()),
            step: Set(m.step),
            timestamp: Set(m.timestamp_ms),
            value: Set(stored_value(m.value)),
            is_nan: Set(m.value.is_nan()),
            ..Default::default()
        }))
        .exec(txn)
        .await?;
        // The newest of the batch per key, then merged with what is stored: only a
        // higher step (or the same step, later) replaces the latest value.
        // Key order, for the same reason as the tags.
        let mut newest: BTreeMap<&str, &pb::Metric> = BTreeMap::new();
        for m in metrics {
            let entry = newest.entry(m.key.as_str()).or_insert(m);
            if (m.step, m.timestamp_ms) >= (entry.step, entry.timestamp_ms) {
                *entry = m;
            }
        }
        let newer = Expr::cust(
            "excluded.step > registry_latest_metrics.step OR (excluded.step = registry_latest_metrics.step \
             AND excluded.timestamp >= registry_latest_metrics.timestamp)",
        );
        latest_metric::Entity::insert_many(newest.values().map(|m| latest_metric::ActiveModel {
            run_id: Set(run_id.to_owned()),
            key: Set(m.key.clone()),
            step: Set(m.step),
            timestamp: Set(m.timestamp_ms),
            value: Set(stored_value(m.value)),
            is_nan: Set(m.value.is_nan()),
        }))
        .on_conflict(
            OnConflict::columns([latest_metric::Column::RunId, latest_metric::Column::Key])
                .update_columns([
                    latest_metric::Column::Step,
                    latest_metric::Column::Timestamp,
                    latest_metric::Column::Value,
                    latest_metric::Column::IsNan,
                ])
                .action_and_where(newer)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// A page of the history of the run's metric `key` in the order it was logged, after the row
/// `after`: `limit + 1` rows at most, to tell whether another page follows.
pub async fn history_page(
    db: &DatabaseConnection,
    run_id: &str,
    key: &str,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<metric_history::Model>> {
    let mut query = metric_history::Entity::find()
        .filter(metric_history::Column::RunId.eq(run_id))
        .filter(metric_history::Column::Key.eq(key))
        .order_by_asc(metric_history::Column::Id);
    if let Some(after) = after {
        query = query.filter(metric_history::Column::Id.gt(after));
    }
    let mut rows = query.limit(limit + 1).all(db).await?;
    for row in &mut rows {
        row.value = value_of(row.value, row.is_nan);
    }
    Ok(rows)
}

/// How a metric value is stored: NaN as 0 with the row's `is_nan` set, as SQLite reads a
/// stored NaN back as NULL; the infinities are stored as they are.
fn stored_value(value: f64) -> f64 {
    if value.is_nan() { 0.0 } else { value }
}

/// The value a stored metric row holds.
pub fn value_of(stored: f64, is_nan: bool) -> f64 {
    if is_nan { f64::NAN } else { stored }
}

/// The run's latest value of each metric whose latest value is a finite number, by key: what a
/// version snapshots (stored as JSON, which has no NaN or infinity; a gate on such a metric
/// finds it missing, and fails).
pub async fn latest_of_run(db: &DatabaseConnection, run_id: &str) -> Result<BTreeMap<String, f64>> {
    Ok(latest_metric::Entity::find()
        .filter(latest_metric::Column::RunId.eq(run_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| !m.is_nan && m.value.is_finite())
        .map(|m| (m.key, m.value))
        .collect())
}
