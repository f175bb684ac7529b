//! The registry-service: projects, experiment tracking and the model registry.
//!
//! [`Registry::build`] connects and migrates its stores; [`Registry::serve`] runs the gRPC
//! server on a given listener until a given shutdown future resolves.

pub mod api;
pub mod domain;
pub mod models;
pub mod paging;
pub mod projects;
pub mod proto;
pub mod store;
pub mod tracking;

use std::sync::Arc;

use lathe_common::auth::Verifier;
use lathe_common::config::{CommonSettings, ServiceSettings, ports};
use lathe_common::grpc::GrpcServer;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::registry::v1::logged_model_service_server::LoggedModelServiceServer;
use lathe_contract::registry::v1::model_registry_service_server::ModelRegistryServiceServer;
use lathe_contract::registry::v1::registry_service_server::RegistryServiceServer;
use lathe_contract::registry::v1::tracking_service_server::TrackingServiceServer;
use lathe_contract::service_names;
use store::cleanup::CleanupSignal;

/// The section of the configuration this service reads.
pub const SECTION: &str = "registry";

pub fn default_settings() -> ServiceSettings {
    ServiceSettings::on_port(ports::REGISTRY)
}

pub struct Registry {
    stores: Stores,
    verifier: Arc<Verifier>,
}

impl GrpcService for Registry {
    const SECTION: &'static str = SECTION;

    type Settings = ServiceSettings;

    fn default_settings() -> ServiceSettings {
        default_settings()
    }

    fn service_settings(settings: &ServiceSettings) -> &ServiceSettings {
        settings
    }

    /// Connects to the metadata database (running migrations) and the object store.
    async fn build(settings: &ServiceSettings, common: &CommonSettings) -> Result<Registry, StartError> {
        let stores = Stores::open::<store::migration::Migrator>(SECTION, settings, common).await?;
        let verifier = lathe_common::service::verifier(common)?;
        Ok(Registry { stores, verifier })
    }

    fn into_server(self, shutdown: Shutdown) -> GrpcServer {
        let cleanup = CleanupSignal::default();
        let upload_sweep = tokio::spawn(store::upload_sweep::run(
            self.stores.objects_url.clone(),
            shutdown.clone(),
        ));
        let worker = tokio::spawn(store::cleanup::run_worker(
            self.stores.db.clone(),
            self.stores.objects.clone(),
            cleanup.clone(),
            shutdown,
        ));
        let projects = projects::Projects::new(self.stores.db.clone(), cleanup.clone());
        let tracking = tracking::Tracking::new(
            self.stores.db.clone(),
            self.stores.objects.clone(),
            self.stores.objects_url.clone(),
            cleanup,
        );
        let models = models::Models::new(tracking.clone());
        let logged_models = api::logged_models::LoggedModelsApi::new(tracking.clone());
        let routes = tonic::service::Routes::new(RegistryServiceServer::new(
            api::projects::ProjectsApi::new(projects),
        ))
        .add_service(TrackingServiceServer::new(api::tracking::TrackingApi::new(
            tracking,
        )))
        .add_service(ModelRegistryServiceServer::new(api::models::ModelsApi::new(
            models,
        )))
        .add_service(LoggedModelServiceServer::new(logged_models));
        GrpcServer::new(SECTION, service_names::REGISTRY, routes, self.verifier)
            .with_health_for(service_names::TRACKING)
            .with_health_for(service_names::MODEL_REGISTRY)
            .with_health_for(service_names::LOGGED_MODELS)
            .with_background(worker)
            .with_background(upload_sweep)
    }
}

impl Registry {
    /// The metadata database and the object store (run artifacts, model files).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}
