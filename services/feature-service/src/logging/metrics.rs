//! The counters of feature logging, per project and monitor. Their names carry no `lathe_`
//! prefix: their registry adds it (`lathe_feature_logging_sent_rows_total`, …).

use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct LoggingMetrics {
    /// Rows the monitor accepted.
    pub sent: IntCounterVec,
    /// Rows sampled but dropped because the queue was full (or the sender gone).
    pub dropped: IntCounterVec,
    /// Rows whose `LogRows` call failed.
    pub failed: IntCounterVec,
}

impl LoggingMetrics {
    pub fn new() -> LoggingMetrics {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["project", "monitor"])
                .expect("static metric definition")
        };
        LoggingMetrics {
            sent: counter(
                "feature_logging_sent_rows_total",
                "Served feature rows sampled and accepted by the monitor, by project and monitor",
            ),
            dropped: counter(
                "feature_logging_dropped_rows_total",
                "Served feature rows sampled but dropped because the logging queue was full",
            ),
            failed: counter(
                "feature_logging_failed_rows_total",
                "Served feature rows sampled but refused by, or not delivered to, the monitor",
            ),
        }
    }

    /// The counters in a registry of their own (names prefixed `lathe_`), for `/metrics`.
    pub fn registry(&self) -> Registry {
        let registry = Registry::new_custom(Some("lathe".to_owned()), None).expect("static prefix is valid");
        for counter in [&self.sent, &self.dropped, &self.failed] {
            registry
                .register(Box::new(counter.clone()))
                .expect("registered once");
        }
        registry
    }
}

impl Default for LoggingMetrics {
    fn default() -> Self {
        LoggingMetrics::new()
    }
}
