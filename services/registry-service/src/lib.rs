//! The registry-service: projects now; experiments, runs, models and versions next.
//!
//! [`Registry::build`] connects and migrates its stores; [`Registry::serve`] runs the gRPC
//! server on a given listener until a given shutdown future resolves.

pub mod api;
pub mod store;

use std::future::Future;
use lathe_common::config::{CommonSettings, ServiceSettings, ports};
use lathe_common::grpc::GrpcServer;
pub use lathe_common::service::StartError;
use lathe_common::service::Stores;
use lathe_contract::registry::v1::registry_service_server::RegistryServiceServer;
use lathe_contract::service_names;
use tokio::net::TcpListener;

/// The section of the configuration this service reads.
pub const SECTION: &str = "registry";

pub fn default_settings() -> ServiceSettings {
    ServiceSettings::on_port(ports::REGISTRY)
}

pub struct Registry {
    stores: Stores,
}

impl Registry {
    /// Connects to the metadata database (running migrations) and the object store.
    pub async fn build(settings: &ServiceSettings, common: &CommonSettings) -> Result<Registry, StartError> {
        let stores = Stores::open::<store::migration::Migrator>(SECTION, settings, common).await?;
        Ok(Registry { stores })
    }

    /// The metadata database and the object store (run artifacts, model files).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let routes = tonic::service::Routes::new(RegistryServiceServer::new(api::projects::ProjectsApi::new(self.stores.db)));
        GrpcServer::new(SECTION, service_names::REGISTRY, routes).serve(listener, shutdown).await
    }
}
