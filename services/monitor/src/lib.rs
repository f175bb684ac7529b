//! The monitor: drift between a reference sample and live windows of logged rows.
//!
//! [`drift`] holds the statistics, [`data`] reads and writes samples, [`compare`] turns two
//! samples into a report, [`engine`] stores references, logged rows, labels, window results
//! and alerts and runs the schedule, [`api`] is the gRPC face. [`Monitor::build`] connects
//! and migrates its stores; [`Monitor::serve`] runs the gRPC server (with the sweeper) on a
//! given listener until a given shutdown future resolves.

pub mod api;
pub mod compare;
pub mod data;
pub mod drift;
pub mod engine;
pub mod metrics;
pub mod quality;
pub mod report;
pub mod settings;
pub mod store;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use lathe_common::auth::{Signer, Verifier};
use lathe_common::config::{CommonSettings, ServiceSettings};
use lathe_common::definitions::Definitions;
use lathe_common::grpc::GrpcServer;
use lathe_common::projects::ProjectCheck;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::monitor::v1::monitor_service_server::MonitorServiceServer;
use lathe_contract::service_names;

use engine::{Engine, Links, Tuning};
pub use settings::MonitorSettings;

/// Reference datasets and batches of logged rows travel in one message; 512 MiB bounds them.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

/// The section of the configuration this service reads.
pub const SECTION: &str = "monitor";

pub fn default_settings() -> MonitorSettings {
    MonitorSettings::default()
}

pub struct Monitor {
    stores: Stores,
    projects: ProjectCheck,
    verifier: Arc<Verifier>,
    settings: MonitorSettings,
    engine: Engine,
}

impl GrpcService for Monitor {
    const SECTION: &'static str = SECTION;

    type Settings = MonitorSettings;

    fn default_settings() -> MonitorSettings {
        default_settings()
    }

    fn service_settings(settings: &MonitorSettings) -> &ServiceSettings {
        &settings.service
    }

    async fn build(settings: &MonitorSettings, common: &CommonSettings) -> Result<Monitor, StartError> {
        let projects =
            ProjectCheck::connect_lazy(&settings.service.registry_endpoint, "monitor.registry_endpoint")?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, &settings.service, common).await?;
        let verifier = lathe_common::service::verifier(common)?;
        let engine = Engine::new(
            stores.db.clone(),
            stores.objects.clone(),
            Definitions::new(stores.db.clone(), store::MONITORS_TABLE),
            links(settings, common),
            Tuning {
                retry_base: Duration::from_millis(settings.retry_base_ms.max(1)),
                max_attempts: settings.max_attempts.max(1),
                ..Tuning::default()
            },
        );
        Ok(Monitor {
            stores,
            projects,
            verifier,
            settings: settings.clone(),
            engine,
        })
    }

    fn into_server(self, shutdown: Shutdown) -> GrpcServer {
        let sweeper = tokio::spawn(self.engine.clone().sweep(
            Duration::from_millis(self.settings.sweep_interval_ms.max(10)),
            shutdown,
        ));
        let registry = self.engine.metrics().registry();
        let api = api::monitors::MonitorsApi::new(self.engine, self.projects);
        let server = MonitorServiceServer::new(api)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let routes = tonic::service::Routes::new(server);
        GrpcServer::new(SECTION, service_names::MONITOR, routes, self.verifier)
            .with_metrics(registry)
            .with_background(sweeper)
    }
}

impl Monitor {
    /// The metadata database and the object store (references and logged rows).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The engine, for callers in this process (tests drive its sweep with their own clock).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The channels, key and HTTP client the monitor reaches out with; a malformed endpoint
/// leaves its link out with a warning (the rest still works).
fn links(settings: &MonitorSettings, common: &CommonSettings) -> Links {
    let channel = |endpoint: &str, key: &str| match lathe_common::grpc::channel(endpoint, key) {
        Ok(channel) => Some(channel),
        Err(err) => {
            tracing::warn!(error = %err, "{key} is unusable");
            None
        }
    };
    let signer = match Signer::from_settings(&common.auth, &common.data_dir) {
        Ok(signer) => Some(Arc::new(signer)),
        Err(err) => {
            tracing::warn!(error = %err, "alerts cannot start pipelines: no signing key");
            None
        }
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.webhook_timeout_ms.max(1)))
        .build()
        .unwrap_or_default();
    Links {
        orchestrator: channel(&settings.orchestrator_endpoint, "monitor.orchestrator_endpoint"),
        features: channel(&settings.features_endpoint, "monitor.features_endpoint"),
        signer,
        http,
    }
}
