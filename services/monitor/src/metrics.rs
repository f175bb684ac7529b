//! The monitor's Prometheus metrics, exported on its `/metrics` beside the request metrics:
//! the latest checked window of every monitor, and its alerts. The sweeper sets them from
//! the database, so every replica exports the same values within a sweep.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use lathe_contract::monitor::v1::WindowResult;

/// Metric names, as exported (with the `lathe_` prefix).
pub const DRIFT_SCORE: &str = "lathe_drift_score";
pub const DRIFT_DETECTED: &str = "lathe_drift_detected";
pub const DRIFT_COLUMN_DETECTED: &str = "lathe_drift_column_detected";
pub const DRIFT_ALERTS: &str = "lathe_drift_alerts_total";

pub struct DriftMetrics {
    registry: Registry,
    score: GaugeVec,
    column_detected: IntGaugeVec,
    detected: IntGaugeVec,
    alerts: IntCounterVec,
}

fn unprefixed(name: &'static str) -> &'static str {
    name.strip_prefix("lathe_").unwrap_or(name)
}

impl Default for DriftMetrics {
    fn default() -> Self {
        let registry = Registry::new_custom(Some("lathe".to_owned()), None).expect("static prefix is valid");
        let score = GaugeVec::new(
            Opts::new(
                unprefixed(DRIFT_SCORE),
                "The drift statistic (distance or p-value) of each column in the monitor's latest checked window",
            ),
            &["project", "monitor", "column", "method"],
        )
        .expect("static metric definition");
        let column_detected = IntGaugeVec::new(
            Opts::new(
                unprefixed(DRIFT_COLUMN_DETECTED),
                "1 when the column drifted in the monitor's latest checked window",
            ),
            &["project", "monitor", "column", "method"],
        )
        .expect("static metric definition");
        let detected = IntGaugeVec::new(
            Opts::new(
                unprefixed(DRIFT_DETECTED),
                "1 when the monitor's latest checked window drifted as a dataset",
            ),
            &["project", "monitor"],
        )
        .expect("static metric definition");
        let alerts = IntCounterVec::new(
            Opts::new(unprefixed(DRIFT_ALERTS), "Drift alerts raised, by monitor"),
            &["project", "monitor"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(score.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(column_detected.clone()),
            Box::new(detected.clone()),
            Box::new(alerts.clone()),
        ] {
            registry.register(collector).expect("registered once");
        }
        DriftMetrics {
            registry,
            score,
            column_detected,
            detected,
            alerts,
        }
    }
}

/// What the gauges show for one monitor.
pub struct Latest<'a> {
    pub project: &'a str,
    pub monitor: &'a str,
    pub window: Option<&'a WindowResult>,
    /// Alerts the monitor has raised in all.
    pub alerts: u64,
}

impl DriftMetrics {
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Replaces every series with these monitors' (series of deleted monitors disappear).
    pub fn set(&self, monitors: &[Latest<'_>]) {
        self.score.reset();
        self.column_detected.reset();
        self.detected.reset();
        for latest in monitors {
            let Some(window) = latest.window else {
                continue;
            };
            self.detected
                .with_label_values(&[latest.project, latest.monitor])
                .set(i64::from(window.drifted));
            for column in &window.columns {
                let labels = [latest.project, latest.monitor, &column.column, &column.method];
                if let Some(statistic) = column.statistic {
                    self.score.with_label_values(&labels).set(statistic);
                }
                self.column_detected
                    .with_label_values(&labels)
                    .set(i64::from(column.drifted));
            }
        }
        let known: std::collections::HashSet<(&str, &str)> =
            monitors.iter().map(|l| (l.project, l.monitor)).collect();
        for family in self.registry.gather() {
            if family.name() != DRIFT_ALERTS {
                continue;
            }
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                };
                let (project, monitor) = (label("project"), label("monitor"));
                if !known.contains(&(project.as_str(), monitor.as_str())) {
                    let _ = self.alerts.remove_label_values(&[&project, &monitor]);
                }
            }
        }
        for latest in monitors {
            let counter = self.alerts.with_label_values(&[latest.project, latest.monitor]);
            let shown = counter.get();
            if latest.alerts > shown {
                counter.inc_by(latest.alerts - shown);
            }
        }
    }

    /// Counts an alert as it is raised (the next refresh agrees with the database).
    pub fn alert_raised(&self, project: &str, monitor: &str) {
        self.alerts.with_label_values(&[project, monitor]).inc();
    }
}

#[cfg(test)]
mod tests {
    use lathe_contract::monitor::v1::ColumnResult;

    use super::*;

    fn exported(metrics: &DriftMetrics) -> String {
        let mut buf = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &metrics.registry.gather(),
            &mut buf,
        )
        .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn gauges_follow_the_latest_window_and_deleted_monitors_vanish() {
        let metrics = DriftMetrics::default();
        let window = WindowResult {
            drifted: true,
            columns: vec![ColumnResult {
                column: "conv_rate".into(),
                method: "psi".into(),
                statistic: Some(0.42),
                drifted: true,
                ..ColumnResult::default()
            }],
            ..WindowResult::default()
        };
        metrics.set(&[Latest {
            project: "p",
            monitor: "m",
            window: Some(&window),
            alerts: 2,
        }]);
        let text = exported(&metrics);
        assert!(
            text.contains(
                r#"lathe_drift_score{column="conv_rate",method="psi",monitor="m",project="p"} 0.42"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"lathe_drift_detected{monitor="m",project="p"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"lathe_drift_alerts_total{monitor="m",project="p"} 2"#),
            "{text}"
        );
        metrics.set(&[]);
        let text = exported(&metrics);
        assert!(!text.contains("monitor=\"m\""), "{text}");
    }
}
