//! The monitor: drift monitor definitions now; profiles, windows, statistics and alerts next.
//!
//! [`Monitor::build`] connects and migrates its stores; [`Monitor::serve`] runs the gRPC
//! server on a given listener until a given shutdown future resolves.

pub mod api;
pub mod drift;
pub mod quality;
pub mod report;
pub mod store;

use std::sync::Arc;

use lathe_common::auth::Verifier;
use lathe_common::config::{CommonSettings, ServiceSettings, ports};
use lathe_common::definitions::Definitions;
use lathe_common::grpc::GrpcServer;
use lathe_common::projects::ProjectCheck;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::monitor::v1::monitor_service_server::MonitorServiceServer;
use lathe_contract::service_names;

/// The section of the configuration this service reads.
pub const SECTION: &str = "monitor";

pub fn default_settings() -> ServiceSettings {
    ServiceSettings::on_port(ports::MONITOR)
}

pub struct Monitor {
    stores: Stores,
    projects: ProjectCheck,
    verifier: Arc<Verifier>,
}

impl GrpcService for Monitor {
    const SECTION: &'static str = SECTION;

    type Settings = ServiceSettings;

    fn default_settings() -> ServiceSettings {
        default_settings()
    }

    fn service_settings(settings: &ServiceSettings) -> &ServiceSettings {
        settings
    }

    async fn build(settings: &ServiceSettings, common: &CommonSettings) -> Result<Monitor, StartError> {
        let projects = ProjectCheck::connect_lazy(&settings.registry_endpoint, "monitor.registry_endpoint")?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, settings, common).await?;
        let verifier = lathe_common::service::verifier(common)?;
        Ok(Monitor {
            stores,
            projects,
            verifier,
        })
    }

    fn into_server(self, _shutdown: Shutdown) -> GrpcServer {
        let monitors = Definitions::new(self.stores.db.clone(), store::MONITORS_TABLE);
        let api = api::monitors::MonitorsApi::new(monitors, self.projects);
        let routes = tonic::service::Routes::new(MonitorServiceServer::new(api));
        GrpcServer::new(SECTION, service_names::MONITOR, routes, self.verifier)
    }
}

impl Monitor {
    /// The metadata database and the object store (reference profiles).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}
