//! The feature-service's section of the settings (`[features]`, `LATHE_FEATURES__*`).

use std::path::Path;

use lathe_common::config::{ServiceSettings, ports};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureSettings {
    #[serde(flatten)]
    pub service: ServiceSettings,
    pub online_store: OnlineStoreSettings,
    /// The monitor's gRPC endpoint, where feature services with `logging` send the rows they
    /// serve (`LATHE_FEATURES__MONITOR_ENDPOINT`).
    pub monitor_endpoint: String,
}

/// Where online feature values live.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnlineStoreSettings {
    /// `redis://…` for Redis; unset for the embedded store in `<data_dir>/online/features.redb`.
    pub url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        FeatureSettings {
            service: ServiceSettings::on_port(ports::FEATURES),
            online_store: OnlineStoreSettings {
                url: None,
                key_prefix: "lathe".to_owned(),
            },
            monitor_endpoint: format!("http://127.0.0.1:{}", ports::MONITOR),
        }
    }
}

impl OnlineStoreSettings {
    /// The embedded store's file when no URL is configured.
    pub fn embedded_path(data_dir: &Path) -> std::path::PathBuf {
        data_dir.join("online").join("features.redb")
    }
}
