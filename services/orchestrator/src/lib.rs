//! The orchestrator: pipelines defined in YAML ([`definition`]), their versions and runs in
//! the database ([`store`]), and the engine that runs them ([`engine`]): each step of a run is
//! decided when a task ends, workers claim task instances with a lease, and a sweeper takes
//! back lost leases and fires cron schedules.
//!
//! [`Orchestrator::build`] connects and migrates its stores; [`Orchestrator::serve`] runs the gRPC
//! server (with the sweeper and, unless disabled, a worker) until a given shutdown future
//! resolves. [`run_worker`] runs a worker alone, for `lathe worker`.

pub mod api;
pub mod definition;
pub mod engine;
pub mod settings;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use lathe_common::auth::{Signer, Verifier};
use lathe_common::config::{CommonSettings, ServiceSettings};
use lathe_common::grpc::GrpcServer;
use lathe_common::projects::ProjectCheck;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::orchestrator::v1::orchestrator_service_server::OrchestratorServiceServer;
use lathe_contract::service_names;

use engine::runs::Runs;
use engine::worker::{Worker, WorkerSettings};
pub use settings::{OrchestratorSettings, WorkerConfig};
use store::pipelines::Pipelines;

/// The section of the configuration this service reads.
pub const SECTION: &str = "orchestrator";

pub fn default_settings() -> OrchestratorSettings {
    OrchestratorSettings::default()
}

pub struct Orchestrator {
    stores: Stores,
    projects: ProjectCheck,
    verifier: Arc<Verifier>,
    signer: Option<Arc<Signer>>,
    settings: OrchestratorSettings,
    data_dir: std::path::PathBuf,
}

impl GrpcService for Orchestrator {
    const SECTION: &'static str = SECTION;

    type Settings = OrchestratorSettings;

    fn default_settings() -> OrchestratorSettings {
        default_settings()
    }

    fn service_settings(settings: &OrchestratorSettings) -> &ServiceSettings {
        &settings.service
    }

    async fn build(
        settings: &OrchestratorSettings,
        common: &CommonSettings,
    ) -> Result<Orchestrator, StartError> {
        let projects = ProjectCheck::connect_lazy(
            &settings.service.registry_endpoint,
            "orchestrator.registry_endpoint",
        )?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, &settings.service, common).await?;
        let verifier = lathe_common::service::verifier(common)?;
        Ok(Orchestrator {
            stores,
            projects,
            verifier,
            signer: task_signer(common),
            settings: settings.clone(),
            data_dir: common.data_dir.clone(),
        })
    }

    fn into_server(self, shutdown: Shutdown) -> GrpcServer {
        let runs = Runs::new(Pipelines::new(self.stores.db.clone()));
        let sweeper = tokio::spawn(runs.clone().sweep(
            Duration::from_millis(self.settings.sweep_interval_ms.max(10)),
            shutdown.clone(),
        ));
        let api = api::pipelines::PipelinesApi::new(runs.clone(), self.stores.objects.clone(), self.projects);
        let routes = tonic::service::Routes::new(OrchestratorServiceServer::new(api));
        let mut server = GrpcServer::new(SECTION, service_names::ORCHESTRATOR, routes, self.verifier)
            .with_background(sweeper);
        if self.settings.worker.enabled {
            let services = builtin_services(&self.settings, &self.stores, self.signer.clone());
            let worker = Arc::new(Worker {
                runs,
                objects: self.stores.objects.clone(),
                objects_url: self.stores.objects_url.clone(),
                settings: worker_settings(&self.settings.worker, &self.data_dir, "standalone"),
                signer: self.signer,
                services,
            });
            server = server.with_background(tokio::spawn(worker.run(shutdown)));
        }
        server
    }
}

impl Orchestrator {
    /// The metadata database and the object store (task logs).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}

/// Runs a worker alone on the orchestrator's database and object store, until `shutdown`.
pub async fn run_worker(
    settings: &OrchestratorSettings,
    common: &CommonSettings,
    name: &str,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let stores = Stores::open::<store::migration::Migrator>(SECTION, &settings.service, common).await?;
    let signer = task_signer(common);
    let worker = Arc::new(Worker {
        runs: Runs::new(Pipelines::new(stores.db.clone())),
        objects: stores.objects.clone(),
        objects_url: stores.objects_url.clone(),
        settings: worker_settings(&settings.worker, &common.data_dir, name),
        services: builtin_services(settings, &stores, signer.clone()),
        signer,
    });
    tracing::info!(worker = %worker.settings.id, slots = worker.settings.slots, "worker started");
    worker.run(shutdown).await;
    Ok(())
}

/// The channels of built-in tasks; `None` (with a warning) when an endpoint is malformed.
fn builtin_services(
    settings: &OrchestratorSettings,
    stores: &Stores,
    signer: Option<Arc<Signer>>,
) -> Option<engine::builtin::Services> {
    let channels = lathe_common::grpc::channel(
        &settings.service.registry_endpoint,
        "orchestrator.registry_endpoint",
    )
    .and_then(|registry| {
        let features =
            lathe_common::grpc::channel(&settings.features_endpoint, "orchestrator.features_endpoint")?;
        let monitor =
            lathe_common::grpc::channel(&settings.monitor_endpoint, "orchestrator.monitor_endpoint")?;
        Ok((registry, features, monitor))
    });
    match channels {
        Ok((registry, features, monitor)) => Some(engine::builtin::Services {
            registry,
            features,
            monitor,
            objects: stores.objects.clone(),
            objects_url: stores.objects_url.clone(),
            signer,
        }),
        Err(err) => {
            tracing::warn!(error = %err, "built-in tasks cannot run");
            None
        }
    }
}

fn task_signer(common: &CommonSettings) -> Option<Arc<Signer>> {
    match Signer::from_settings(&common.auth, &common.data_dir) {
        Ok(signer) => Some(Arc::new(signer)),
        Err(err) => {
            tracing::warn!(error = %err, "command tasks get no LATHE_TOKEN: no signing key");
            None
        }
    }
}

fn worker_settings(config: &WorkerConfig, data_dir: &std::path::Path, name: &str) -> WorkerSettings {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    let id = format!(
        "{name}@{host}:{}:{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    WorkerSettings {
        id,
        slots: config.slots.max(1),
        lease: Duration::from_millis(config.lease_ms.max(100)),
        heartbeat: Duration::from_millis(config.heartbeat_ms.max(10)),
        poll: Duration::from_millis(config.poll_ms.max(10)),
        work_dir: data_dir.join("orchestrator").join("work"),
        task_root: config
            .task_root
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default(),
        gateway_url: config.gateway_url.clone(),
        env: config.env.clone(),
    }
}
