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

#[cfg(test)]
mod tests {
    use lathe_common::config::Config;

    use super::*;

    #[test]
    fn the_monitor_endpoint_defaults_to_the_monitors_local_port_and_can_be_set() {
        let defaults = Config::from_toml("")
            .section(crate::SECTION, FeatureSettings::default())
            .unwrap();
        assert_eq!(defaults.monitor_endpoint, "http://127.0.0.1:50054");
        let set = Config::from_toml("[features]\nmonitor_endpoint = \"http://monitor:50054\"\n")
            .section(crate::SECTION, FeatureSettings::default())
            .unwrap();
        assert_eq!(set.monitor_endpoint, "http://monitor:50054");
    }
}
