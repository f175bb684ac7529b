//! Metrics, params and tags logged to runs in batches, and a metric's history.

use std::collections::HashSet;

use lathe_common::{Error, Result, db};
use lathe_contract::registry::v1 as pb;

use super::{Tracking, now_ms};
use crate::domain::names;
use crate::paging::{decode_token, finish_page, page_size};
use crate::proto;
use crate::store::metrics;

/// Limits of one log-batch call (MLflow's).
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;

impl Tracking {
    /// Logs a batch to a run of an active experiment, all of it or nothing: new params (a
    /// changed one is refused), tags (last value wins) and metrics.
    pub async fn log_batch(&self, request: pb::LogBatchRequest) -> Result<()> {
        validate_batch(&request)?;
        let run = self.writable_run(&request.project, &request.run_id).await?;
        // Metrics without a time are stamped once, so a retried transaction logs the same rows.
        let now = now_ms();
        let metrics: Vec<pb::Metric> = request
            .metrics
            .iter()
            .map(|m| pb::Metric {
                timestamp_ms: if m.timestamp_ms == 0 { now } else { m.timestamp_ms },
                ..m.clone()
            })
            .collect();
        let (run, request, metrics) = (&run, &request, &metrics);
        db::retry_conflicts(|| async move {
            let txn = db::begin_write(&self.db).await?;
            metrics::log_batch(&txn, &run.id, request, metrics).await?;
            Ok(txn.commit().await?)
        })
        .await
    }

    pub async fn get_metric_history(
        &self,
        request: pb::GetMetricHistoryRequest,
    ) -> Result<pb::GetMetricHistoryResponse> {
        let run = self.run(&request.project, &request.run_id).await?;
        let limit = page_size(request.page_size)?;
        let after = decode_token(&request.page_token)?;
        let mut rows = metrics::history_page(&self.db, &run.id, &request.key, after, limit).await?;
        let next_page_token = finish_page(&mut rows, limit, |m| m.id);
        Ok(pb::GetMetricHistoryResponse {
            metrics: rows.into_iter().map(proto::logged_metric).collect(),
            next_page_token,
        })
    }
}

fn validate_batch(request: &pb::LogBatchRequest) -> Result<()> {
    if request.metrics.len() > MAX_BATCH_METRICS
        || request.params.len() > MAX_BATCH_PARAMS
        || request.tags.len() + request.delete_tags.len() > MAX_BATCH_TAGS
    {
        return Err(Error::invalid(format!(
            "a batch holds at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} params and {MAX_BATCH_TAGS} tags"
        )));
    }
    for (i, m) in request.metrics.iter().enumerate() {
        names::key(&format!("metrics[{i}].key"), &m.key)?;
    }
    let mut seen = HashSet::new();
    for (i, p) in request.params.iter().enumerate() {
        names::key(&format!("params[{i}].key"), &p.key)?;
        if p.value.len() > names::MAX_PARAM_VALUE_LEN {
            return Err(Error::invalid(format!(
                "params[{i}].value: at most {} bytes",
                names::MAX_PARAM_VALUE_LEN
            )));
        }
        if !seen.insert(p.key.as_str()) {
            return Err(Error::invalid(format!(
                "params[{i}].key: '{}' appears twice in the batch",
                p.key
            )));
        }
    }
    for (i, key) in request.delete_tags.iter().enumerate() {
        names::key(&format!("delete_tags[{i}]"), key)?;
    }
    for (i, t) in request.tags.iter().enumerate() {
        names::key(&format!("tags[{i}].key"), &t.key)?;
        if t.value.len() > names::MAX_TAG_VALUE_LEN {
            return Err(Error::invalid(format!(
                "tags[{i}].value: at most {} bytes",
                names::MAX_TAG_VALUE_LEN
            )));
        }
    }
    Ok(())
}
