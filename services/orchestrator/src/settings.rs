//! The orchestrator's section of the configuration: the service, and its workers.

use std::path::PathBuf;

use lathe_common::config::{ServiceSettings, ports};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrchestratorSettings {
    #[serde(flatten)]
    pub service: ServiceSettings,
    /// How often the sweeper takes back expired leases and fires schedules.
    pub sweep_interval_ms: u64,
    /// gRPC endpoint of the feature-service, for `features.*` tasks (the registry's is
    /// `registry_endpoint`).
    pub features_endpoint: String,
    /// gRPC endpoint of the monitor, for `monitor.*` tasks.
    pub monitor_endpoint: String,
    pub worker: WorkerConfig,
}

/// A worker's settings: the one inside the orchestrator (`enabled`), and `lathe worker`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Run a worker inside the orchestrator (as `lathe standalone` does).
    pub enabled: bool,
    /// Tasks one worker runs at once.
    pub slots: usize,
    /// A try stays a worker's while it renews its lease within this time; a killed worker's
    /// tries run again elsewhere after it.
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    /// Between looks for work when no wake-up comes from this process.
    pub poll_ms: u64,
    /// Base of the relative `working_dir`s of command tasks; the worker's current directory
    /// when unset.
    pub task_root: Option<PathBuf>,
    /// `LATHE_URL` of command tasks: the gateway they may call with their `LATHE_TOKEN`.
    pub gateway_url: String,
    /// Variables every command task of this worker finds in its environment, over the
    /// worker's own (e.g. a `PATH` that holds the programs tasks run); a task's own `env`
    /// and the `LATHE_*` variables win.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

impl Default for OrchestratorSettings {
    fn default() -> Self {
        OrchestratorSettings {
            service: ServiceSettings::on_port(ports::ORCHESTRATOR),
            sweep_interval_ms: 1000,
            features_endpoint: format!("http://127.0.0.1:{}", ports::FEATURES),
            monitor_endpoint: format!("http://127.0.0.1:{}", ports::MONITOR),
            worker: WorkerConfig {
                enabled: true,
                slots: 16,
                lease_ms: 30_000,
                heartbeat_ms: 1000,
                poll_ms: 500,
                task_root: None,
                gateway_url: format!("http://127.0.0.1:{}", ports::GATEWAY_HTTP),
                env: std::collections::BTreeMap::new(),
            },
        }
    }
}
