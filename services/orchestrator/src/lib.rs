//! The orchestrator: pipeline definitions now; runs, schedules and workers next.
//!
//! [`Orchestrator::build`] connects and migrates its stores; [`Orchestrator::serve`] runs the gRPC
//! server on a given listener until a given shutdown future resolves.

pub mod api;
pub mod definition;
pub mod store;

use std::sync::Arc;

use lathe_common::auth::Verifier;
use lathe_common::config::{CommonSettings, ServiceSettings, ports};
use lathe_common::definitions::Definitions;
use lathe_common::grpc::GrpcServer;
use lathe_common::projects::ProjectCheck;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::orchestrator::v1::orchestrator_service_server::OrchestratorServiceServer;
use lathe_contract::service_names;

/// The section of the configuration this service reads.
pub const SECTION: &str = "orchestrator";

pub fn default_settings() -> ServiceSettings {
    ServiceSettings::on_port(ports::ORCHESTRATOR)
}

pub struct Orchestrator {
    stores: Stores,
    projects: ProjectCheck,
    verifier: Arc<Verifier>,
}

impl GrpcService for Orchestrator {
    const SECTION: &'static str = SECTION;

    type Settings = ServiceSettings;

    fn default_settings() -> ServiceSettings {
        default_settings()
    }

    fn service_settings(settings: &ServiceSettings) -> &ServiceSettings {
        settings
    }

    async fn build(settings: &ServiceSettings, common: &CommonSettings) -> Result<Orchestrator, StartError> {
        let projects =
            ProjectCheck::connect_lazy(&settings.registry_endpoint, "orchestrator.registry_endpoint")?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, settings, common).await?;
        let verifier = lathe_common::service::verifier(common)?;
        Ok(Orchestrator {
            stores,
            projects,
            verifier,
        })
    }

    fn into_server(self, _shutdown: Shutdown) -> GrpcServer {
        let pipelines = Definitions::new(self.stores.db.clone(), store::PIPELINES_TABLE);
        let api = api::pipelines::PipelinesApi::new(pipelines, self.projects);
        let routes = tonic::service::Routes::new(OrchestratorServiceServer::new(api));
        GrpcServer::new(SECTION, service_names::ORCHESTRATOR, routes, self.verifier)
    }
}

impl Orchestrator {
    /// The metadata database and the object store (task logs).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}
