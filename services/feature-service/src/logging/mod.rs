//! Feature logging: a feature service with `logging: {monitor, sample_rate}` samples the rows
//! it serves online and sends them to that monitor (`MonitorService/LogRows`, JSON), so that
//! feature drift needs no change in the clients.
//!
//! The queue, the batching sender and the sampling are [`lathe_common::row_log`]'s, shared
//! with the serving service; what is the feature service's own is which rows are logged (the
//! answer's feature columns, join keys left out) and their JSON form ([`logged_rows`]).

mod rows;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use lathe_common::row_log::{self, RowQueue, sampling};
pub use lathe_common::row_log::{LogSender, LoggingMetrics, SampledRows};
use lathe_contract::features::v1 as pb;
use tokio::sync::mpsc;

pub use self::rows::{TIMESTAMP, json_value, logged_rows};
use crate::definitions::spec::LoggingSpec;

/// The subject of the tokens feature logging signs: who logged the rows, in the monitor's logs.
pub const SUBJECT: &str = "service:feature-service";

/// The counters of feature logging: `lathe_feature_logging_{sent,dropped,failed}_rows_total`,
/// the names the Grafana dashboards query.
pub fn metrics() -> LoggingMetrics {
    LoggingMetrics::new("feature_logging", "served feature rows")
}

/// The read path's side of feature logging: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RowLogger {
    queue: RowQueue,
}

/// The read path's logger, with the receiving end and the queued-row count that
/// [`LogSender::new`] takes.
pub fn queue(metrics: LoggingMetrics) -> (RowLogger, mpsc::Receiver<SampledRows>, Arc<AtomicUsize>) {
    let (queue, receiver, queued) = row_log::queue(metrics);
    (RowLogger { queue }, receiver, queued)
}

impl RowLogger {
    /// Samples the rows of an online answer's feature columns (join keys left out) and queues
    /// them for `logging`'s monitor; drops and counts them when the queue is full.
    pub fn offer(&self, project: &str, logging: &LoggingSpec, features: &[pb::FeatureColumn]) {
        let rows = features.first().map_or(0, |column| column.values.len());
        let picked = sampling::sample_here(logging.sample_rate, rows);
        if picked.is_empty() {
            return;
        }
        let rows = logged_rows(features, &picked, chrono::Utc::now());
        self.queue.offer(project, &logging.monitor, rows);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use lathe_common::row_log::QUEUE_ROWS;
    use lathe_contract::features::v1::value::Kind;

    use super::*;

    fn column(name: &str, rows: usize) -> pb::FeatureColumn {
        pb::FeatureColumn {
            name: name.to_owned(),
            values: (0..rows)
                .map(|i| pb::Value {
                    kind: Some(Kind::Int64Value(i as i64)),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn every_row(monitor: &str) -> LoggingSpec {
        LoggingSpec {
            monitor: monitor.to_owned(),
            sample_rate: 1.0,
        }
    }

    #[test]
    fn rate_one_queues_every_served_row() {
        let metrics = metrics();
        let (logger, mut receiver, queued) = queue(metrics.clone());
        logger.offer("p", &every_row("m"), &[column("trips", 3)]);
        let sampled = receiver.try_recv().unwrap();
        assert_eq!((sampled.project.as_str(), sampled.monitor.as_str()), ("p", "m"));
        let trips: Vec<i64> = sampled
            .rows
            .iter()
            .map(|r| r["trips"].as_i64().unwrap())
            .collect();
        assert_eq!(trips, [0, 1, 2]);
        assert!(sampled.rows.iter().all(|r| r[TIMESTAMP].is_string()));
        assert_eq!(queued.load(Ordering::Relaxed), 3);
        assert_eq!(metrics.dropped.with_label_values(&["p", "m"]).get(), 0);
    }

    #[test]
    fn rate_zero_and_an_empty_answer_queue_nothing() {
        let metrics = metrics();
        let (logger, mut receiver, queued) = queue(metrics.clone());
        let never = LoggingSpec {
            monitor: "m".to_owned(),
            sample_rate: 0.0,
        };
        logger.offer("p", &never, &[column("trips", 50)]);
        logger.offer("p", &every_row("m"), &[column("trips", 0)]);
        logger.offer("p", &every_row("m"), &[]);
        assert!(receiver.try_recv().is_err());
        assert_eq!(queued.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts_the_served_rows() {
        let metrics = metrics();
        let (logger, _receiver, queued) = queue(metrics.clone());
        for _ in 0..(QUEUE_ROWS / 100 + 5) {
            logger.offer("p", &every_row("m"), &[column("trips", 100)]);
        }
        assert_eq!(queued.load(Ordering::Relaxed), QUEUE_ROWS);
        assert_eq!(metrics.dropped.with_label_values(&["p", "m"]).get(), 500);
    }

    #[test]
    fn the_counters_keep_the_names_the_dashboards_query() {
        let metrics = metrics();
        for counter in [&metrics.sent, &metrics.dropped, &metrics.failed] {
            counter.with_label_values(&["p", "m"]).inc();
        }
        let described: Vec<(String, String)> = metrics
            .registry()
            .gather()
            .iter()
            .map(|f| (f.name().to_owned(), f.help().to_owned()))
            .collect();
        assert_eq!(
            described,
            [
                (
                    "lathe_feature_logging_dropped_rows_total",
                    "Served feature rows sampled but dropped because the logging queue was full"
                ),
                (
                    "lathe_feature_logging_failed_rows_total",
                    "Served feature rows sampled but refused by, or not delivered to, the monitor"
                ),
                (
                    "lathe_feature_logging_sent_rows_total",
                    "Served feature rows sampled and accepted by the monitor, by project and monitor"
                ),
            ]
            .map(|(name, help)| (name.to_owned(), help.to_owned()))
        );
    }
}
