//! The serving service's section of the configuration (`[serving]`, `LATHE_SERVING__*`).

use lathe_common::config::{ServiceSettings, ports};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServingSettings {
    #[serde(flatten)]
    pub service: ServiceSettings,
    /// gRPC endpoint of the feature-service: online features for predictions, historical ones
    /// for batch scoring.
    pub features_endpoint: String,
    /// gRPC endpoint of the monitor, which logged predictions go to.
    pub monitor_endpoint: String,
    /// How often each deployment asks the registry where its aliases point; a moved alias is
    /// served within about this long, once its version is loaded.
    pub alias_poll_ms: u64,
}

impl Default for ServingSettings {
    fn default() -> Self {
        ServingSettings {
            service: ServiceSettings::on_port(ports::SERVING),
            features_endpoint: format!("http://127.0.0.1:{}", ports::FEATURES),
            monitor_endpoint: format!("http://127.0.0.1:{}", ports::MONITOR),
            alias_poll_ms: 500,
        }
    }
}
