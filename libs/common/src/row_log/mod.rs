//! Row logging: a service that serves rows (feature values, predictions) samples them and
//! sends them to a monitor (`MonitorService/LogRows`, JSON), so that drift needs no change in
//! the clients.
//!
//! The serving path only samples, turns the kept rows into JSON and offers them to a bounded
//! queue ([`RowQueue::offer`], which never waits): when the queue holds [`QUEUE_ROWS`] rows,
//! further rows are dropped and counted. A background [`LogSender`] batches the rows per
//! project and monitor and sends a batch when it reaches [`FLUSH_ROWS`] rows or every
//! [`FLUSH_EVERY`]; a failed call is logged and counted, and never reaches an online caller.

mod metrics;
pub mod sampling;
mod sender;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

pub use self::metrics::LoggingMetrics;
pub use self::sender::LogSender;

/// Sampled rows waiting for the sender, at most; past it rows are dropped.
pub const QUEUE_ROWS: usize = 10_000;
/// A batch is sent once it holds this many rows…
pub const FLUSH_ROWS: usize = 1_000;
/// …or at the latest this long after the previous flush.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Rows sampled from one answer, bound for one monitor.
#[derive(Debug)]
pub struct SampledRows {
    pub project: String,
    pub monitor: String,
    pub rows: Vec<serde_json::Value>,
}

/// What the queue's clones share: the rows in the queue (the channel counts messages, and one
/// answer may sample many rows) and the counters.
struct Shared {
    queued: Arc<AtomicUsize>,
    metrics: LoggingMetrics,
}

/// The serving path's side of row logging: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RowQueue {
    sender: mpsc::Sender<SampledRows>,
    shared: Arc<Shared>,
}

/// The serving path's queue, with the receiving end and the queued-row count that
/// [`LogSender::new`] takes.
pub fn queue(metrics: LoggingMetrics) -> (RowQueue, mpsc::Receiver<SampledRows>, Arc<AtomicUsize>) {
    // Every message holds a row at least, so the row bound binds before the channel's.
    let (sender, receiver) = mpsc::channel(QUEUE_ROWS);
    let queued = Arc::new(AtomicUsize::new(0));
    let queue = RowQueue {
        sender,
        shared: Arc::new(Shared {
            queued: queued.clone(),
            metrics,
        }),
    };
    (queue, receiver, queued)
}

impl RowQueue {
    /// Queues `rows` for `monitor`; never waits: when the queue holds [`QUEUE_ROWS`] rows (or
    /// the sender is gone) the rows are dropped and counted in `dropped`.
    pub fn offer(&self, project: &str, monitor: &str, rows: Vec<serde_json::Value>) {
        let n = rows.len();
        if n == 0 {
            return;
        }
        let shared = &self.shared;
        if shared.queued.fetch_add(n, Ordering::Relaxed) + n > QUEUE_ROWS {
            shared.queued.fetch_sub(n, Ordering::Relaxed);
            self.dropped(project, monitor, n);
            return;
        }
        let sampled = SampledRows {
            project: project.to_owned(),
            monitor: monitor.to_owned(),
            rows,
        };
        if self.sender.try_send(sampled).is_err() {
            shared.queued.fetch_sub(n, Ordering::Relaxed);
            self.dropped(project, monitor, n);
        }
    }

    fn dropped(&self, project: &str, monitor: &str, rows: usize) {
        self.shared
            .metrics
            .dropped
            .with_label_values(&[project, monitor])
            .inc_by(rows as u64);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(n: usize) -> Vec<serde_json::Value> {
        (0..n).map(|i| json!({"trips": i})).collect()
    }

    fn metrics() -> LoggingMetrics {
        LoggingMetrics::new("test_logging", "test rows")
    }

    #[test]
    fn offered_rows_are_queued_as_they_are() {
        let metrics = metrics();
        let (queue, mut receiver, queued) = queue(metrics.clone());
        queue.offer("p", "m", rows(3));
        let sampled = receiver.try_recv().unwrap();
        assert_eq!((sampled.project.as_str(), sampled.monitor.as_str()), ("p", "m"));
        assert_eq!(sampled.rows, rows(3));
        assert_eq!(queued.load(Ordering::Relaxed), 3);
        // No rows, no message.
        queue.offer("p", "m", vec![]);
        assert!(receiver.try_recv().is_err());
        assert_eq!(metrics.dropped.with_label_values(&["p", "m"]).get(), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let metrics = metrics();
        let (queue, receiver, queued) = queue(metrics.clone());
        // Nobody drains: the first QUEUE_ROWS rows fit, the rest are dropped at once.
        let started = std::time::Instant::now();
        for _ in 0..(QUEUE_ROWS / 100 + 5) {
            queue.offer("p", "m", rows(100));
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(queued.load(Ordering::Relaxed), QUEUE_ROWS);
        assert_eq!(metrics.dropped.with_label_values(&["p", "m"]).get(), 500);
        // A sender that is gone drops too.
        drop(receiver);
        let (queue, receiver, _) = super::queue(metrics.clone());
        drop(receiver);
        queue.offer("p", "other", rows(2));
        assert_eq!(metrics.dropped.with_label_values(&["p", "other"]).get(), 2);
    }
}
