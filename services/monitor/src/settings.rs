//! The monitor's section of the configuration.

use lathe_common::config::{ServiceSettings, ports};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorSettings {
    #[serde(flatten)]
    pub service: ServiceSettings,
    /// How often the sweeper checks closed windows, retries alert deliveries and refreshes
    /// the gauges.
    pub sweep_interval_ms: u64,
    /// gRPC endpoint of the orchestrator, told of every alert.
    pub orchestrator_endpoint: String,
    /// gRPC endpoint of the feature-service, for references from feature views.
    pub features_endpoint: String,
    /// First retry of a failed webhook post or orchestrator call; doubled per attempt.
    pub retry_base_ms: u64,
    /// Tries per delivery at most.
    pub max_attempts: u32,
    /// Timeout of one webhook post.
    pub webhook_timeout_ms: u64,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            service: ServiceSettings::on_port(ports::MONITOR),
            sweep_interval_ms: 5000,
            orchestrator_endpoint: format!("http://127.0.0.1:{}", ports::ORCHESTRATOR),
            features_endpoint: format!("http://127.0.0.1:{}", ports::FEATURES),
            retry_base_ms: 1000,
            max_attempts: 8,
            webhook_timeout_ms: 10_000,
        }
    }
}
