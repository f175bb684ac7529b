//! Feature logging: a feature service with `logging: {monitor, sample_rate}` samples the rows
//! it serves online and sends them to that monitor (`MonitorService/LogRows`, JSON), so that
//! feature drift needs no change in the clients.
//!
//! The read path only samples, turns the kept rows into JSON and offers them to a bounded
//! queue ([`RowLogger::offer`], which never waits): when the queue holds [`QUEUE_ROWS`] rows,
//! further rows are dropped and counted. A background [`LogSender`] batches the rows per
//! project and monitor and sends a batch when it reaches [`FLUSH_ROWS`] rows or every
//! [`FLUSH_EVERY`]; a failed call is logged and counted, and never reaches an online caller.

mod metrics;
mod rows;
pub mod sampling;
mod sender;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lathe_contract::features::v1 as pb;
use tokio::sync::mpsc;

pub use self::metrics::LoggingMetrics;
pub use self::rows::{TIMESTAMP, json_value, logged_rows};
pub use self::sender::LogSender;
use crate::definitions::spec::LoggingSpec;

/// Sampled rows waiting for the sender, at most; past it rows are dropped.
pub const QUEUE_ROWS: usize = 10_000;
/// A batch is sent once it holds this many rows…
pub const FLUSH_ROWS: usize = 1_000;
/// …or at the latest this long after the previous flush.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Rows sampled from one online read, bound for one monitor.
#[derive(Debug)]
pub struct SampledRows {
    pub project: String,
    pub monitor: String,
    pub rows: Vec<serde_json::Value>,
}

/// What the loggers share: the rows in the queue (the channel counts messages, and one read
/// may sample many rows) and the counters.
struct Queue {
    queued: Arc<AtomicUsize>,
    metrics: LoggingMetrics,
}

/// The read path's side of feature logging: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RowLogger {
    sender: mpsc::Sender<SampledRows>,
    queue: Arc<Queue>,
}

/// The read path's logger, with the receiving end and the queued-row count that
/// [`LogSender::new`] takes.
pub fn queue(metrics: LoggingMetrics) -> (RowLogger, mpsc::Receiver<SampledRows>, Arc<AtomicUsize>) {
    // Every message holds a row at least, so the row bound binds before the channel's.
    let (sender, receiver) = mpsc::channel(QUEUE_ROWS);
    let queued = Arc::new(AtomicUsize::new(0));
    let logger = RowLogger {
        sender,
        queue: Arc::new(Queue {
            queued: queued.clone(),
            metrics,
        }),
    };
    (logger, receiver, queued)
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
        let n = picked.len();
        let queue = &self.queue;
        if queue.queued.fetch_add(n, Ordering::Relaxed) + n > QUEUE_ROWS {
            queue.queued.fetch_sub(n, Ordering::Relaxed);
            self.dropped(project, &logging.monitor, n);
            return;
        }
        let sampled = SampledRows {
            project: project.to_owned(),
            monitor: logging.monitor.clone(),
            rows: logged_rows(features, &picked, chrono::Utc::now()),
        };
        if self.sender.try_send(sampled).is_err() {
            queue.queued.fetch_sub(n, Ordering::Relaxed);
            self.dropped(project, &logging.monitor, n);
        }
    }

    fn dropped(&self, project: &str, monitor: &str, rows: usize) {
        self.queue
            .metrics
            .dropped
            .with_label_values(&[project, monitor])
            .inc_by(rows as u64);
    }
}

#[cfg(test)]
mod tests {
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
        let metrics = LoggingMetrics::new();
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
    fn a_full_queue_drops_and_counts_without_waiting() {
        let metrics = LoggingMetrics::new();
        let (logger, receiver, queued) = queue(metrics.clone());
        // Nobody drains: the first QUEUE_ROWS rows fit, the rest are dropped at once.
        let started = std::time::Instant::now();
        for _ in 0..(QUEUE_ROWS / 100 + 5) {
            logger.offer("p", &every_row("m"), &[column("trips", 100)]);
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(queued.load(Ordering::Relaxed), QUEUE_ROWS);
        assert_eq!(metrics.dropped.with_label_values(&["p", "m"]).get(), 500);
        // A sender that is gone drops too.
        drop(receiver);
        let (project, monitor) = ("p", "other");
        let (logger, receiver, _) = queue(metrics.clone());
        drop(receiver);
        logger.offer(project, &every_row(monitor), &[column("trips", 2)]);
        assert_eq!(metrics.dropped.with_label_values(&[project, monitor]).get(), 2);
    }
}
