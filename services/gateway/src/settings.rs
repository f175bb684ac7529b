//! The gateway's section of the settings (`[gateway]`, `LATHE_GATEWAY__*`).

use std::net::SocketAddr;

use lathe_common::config::{ConfigError, ports};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewaySettings {
    pub http_addr: SocketAddr,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    pub registry_endpoint: String,
    pub features_endpoint: String,
    pub orchestrator_endpoint: String,
    pub monitor_endpoint: String,
    /// The serving service: deployments and predictions.
    pub serving_endpoint: String,
    /// How long `/readyz` waits for each backend's health answer.
    pub readiness_timeout_ms: u64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest entity frame accepted for historical retrieval, in bytes.
    pub frame_limit_bytes: usize,
    /// Project served by the Feast-compatible `POST /get-online-features`.
    pub feast_project: String,
    /// Project of the MLflow-compatible API (`/api/2.0/mlflow/...`) when the caller's token
    /// does not name exactly one project.
    pub mlflow_project: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        let local = |port: u16| format!("http://127.0.0.1:{port}");
        GatewaySettings {
            http_addr: SocketAddr::from(([127, 0, 0, 1], ports::GATEWAY_HTTP)),
            body_limit_bytes: 1024 * 1024,
            registry_endpoint: local(ports::REGISTRY),
            features_endpoint: local(ports::FEATURES),
            orchestrator_endpoint: local(ports::ORCHESTRATOR),
            monitor_endpoint: local(ports::MONITOR),
            serving_endpoint: local(ports::SERVING),
            readiness_timeout_ms: 2000,
            workers: 0,
            frame_limit_bytes: 256 * 1024 * 1024,
            feast_project: "default".to_owned(),
            mlflow_project: "default".to_owned(),
        }
    }
}

impl GatewaySettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit_bytes == 0 {
            return Err(ConfigError::invalid(
                "gateway.body_limit_bytes",
                "must be greater than 0",
            ));
        }
        if self.readiness_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "gateway.readiness_timeout_ms",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use lathe_common::config::Config;

    use super::*;

    #[test]
    fn the_serving_endpoint_defaults_to_the_serving_port_and_can_be_set() {
        let defaults = Config::from_toml("")
            .section(crate::SECTION, GatewaySettings::default())
            .unwrap();
        assert_eq!(defaults.serving_endpoint, "http://127.0.0.1:50055");
        defaults.validate().unwrap();
        let set = Config::from_toml("[gateway]\nserving_endpoint = \"http://serving:50055\"\n")
            .section(crate::SECTION, GatewaySettings::default())
            .unwrap();
        assert_eq!(set.serving_endpoint, "http://serving:50055");
    }
}
