//! The feature-service: feature definitions now (entities); offline retrieval,
//! materialization and online serving next.
//!
//! [`Features::build`] connects and migrates its stores; [`Features::serve`] runs the gRPC
//! server on a given listener until a given shutdown future resolves.

pub mod api;
pub mod definitions;
pub mod offline;
pub mod online;
pub mod store;

use std::future::Future;

use lathe_common::config::{CommonSettings, ServiceSettings, ports};
use lathe_common::grpc::GrpcServer;
use lathe_common::projects::ProjectCheck;
use lathe_common::service::Stores;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_contract::features::v1::feature_service_server::FeatureServiceServer;
use lathe_contract::service_names;
use tokio::net::TcpListener;

/// The section of the configuration this service reads.
pub const SECTION: &str = "features";

pub fn default_settings() -> ServiceSettings {
    ServiceSettings::on_port(ports::FEATURES)
}

pub struct Features {
    stores: Stores,
    projects: ProjectCheck,
}

impl GrpcService for Features {
    const SECTION: &'static str = SECTION;

    fn default_settings() -> ServiceSettings {
        default_settings()
    }

    async fn build(settings: &ServiceSettings, common: &CommonSettings) -> Result<Features, StartError> {
        let projects = ProjectCheck::connect_lazy(&settings.registry_endpoint, "features.registry_endpoint")?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, settings, common).await?;
        Ok(Features { stores, projects })
    }

    async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let api = api::entities::FeaturesApi::new(definitions::store::DefinitionStore::new(self.stores.db.clone()), self.projects);
        let routes = tonic::service::Routes::new(FeatureServiceServer::new(api));
        GrpcServer::new(SECTION, service_names::FEATURES, routes)
            .serve(listener, shutdown)
            .await
    }
}

impl Features {
    /// The metadata database and the object store (offline feature data).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}
