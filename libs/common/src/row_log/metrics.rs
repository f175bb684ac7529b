//! The counters of a row log, per project and monitor. Their names carry no `lathe_` prefix:
//! their registry adds it (`lathe_feature_logging_sent_rows_total`, …).

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
    /// Counters named `{prefix}_sent_rows_total`, `{prefix}_dropped_rows_total` and
    /// `{prefix}_failed_rows_total` (labels project, monitor), whose help texts say the rows
    /// are `what` ("served feature rows", "predictions").
    pub fn new(prefix: &str, what: &str) -> LoggingMetrics {
        let what = capitalized(what);
        let counter = |name: &str, help: String| {
            IntCounterVec::new(
                Opts::new(format!("{prefix}_{name}"), help),
                &["project", "monitor"],
            )
            .expect("valid metric definition")
        };
        LoggingMetrics {
            sent: counter(
                "sent_rows_total",
                format!("{what} sampled and accepted by the monitor, by project and monitor"),
            ),
            dropped: counter(
                "dropped_rows_total",
                format!("{what} sampled but dropped because the logging queue was full"),
            ),
            failed: counter(
                "failed_rows_total",
                format!("{what} sampled but refused by, or not delivered to, the monitor"),
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

/// `what` as the start of a sentence.
fn capitalized(what: &str) -> String {
    let mut chars = what.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_the_prefix_and_described_by_what_they_count() {
        let metrics = LoggingMetrics::new("prediction_logging", "predictions");
        metrics.sent.with_label_values(&["p", "m"]).inc();
        metrics.dropped.with_label_values(&["p", "m"]).inc();
        metrics.failed.with_label_values(&["p", "m"]).inc();
        let families = metrics.registry().gather();
        let described: Vec<(&str, &str)> = families.iter().map(|f| (f.name(), f.help())).collect();
        assert_eq!(
            described,
            [
                (
                    "lathe_prediction_logging_dropped_rows_total",
                    "Predictions sampled but dropped because the logging queue was full"
                ),
                (
                    "lathe_prediction_logging_failed_rows_total",
                    "Predictions sampled but refused by, or not delivered to, the monitor"
                ),
                (
                    "lathe_prediction_logging_sent_rows_total",
                    "Predictions sampled and accepted by the monitor, by project and monitor"
                ),
            ]
        );
        let labels: Vec<&str> = families[0].get_metric()[0]
            .get_label()
            .iter()
            .map(|l| l.name())
            .collect();
        assert_eq!(labels, ["monitor", "project"]);
    }
}
