//! What every service does at start: connect its metadata database (running its migrations)
//! and open its object store, from its section of the settings.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::Shared;

use object_store::ObjectStore;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::auth::Verifier;
use crate::config::{CommonSettings, ConfigError, ServiceSettings};
use crate::db::{self, DbError};
use crate::grpc::GrpcServer;
use crate::storage;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot load the JWT key: {0}")]
    Key(#[from] crate::auth::KeyError),
    /// Another backend (an online store, a cache…) could not be opened.
    #[error("{0}")]
    Backend(String),
}

/// The verifier of the tokens that calls to a service must carry: the gateway's keys.
pub fn verifier(common: &CommonSettings) -> Result<Arc<Verifier>, StartError> {
    Ok(Arc::new(Verifier::from_settings(&common.auth, &common.data_dir)?))
}

/// A service's own stores.
#[derive(Clone)]
pub struct Stores {
    pub db: DatabaseConnection,
    pub objects: Arc<dyn ObjectStore>,
    /// The URL `objects` was opened from, for showing where artifacts live.
    pub objects_url: String,
}

impl Stores {
    /// Opens the stores of the service whose settings section is `section`, migrated by `M`.
    pub async fn open<M: MigratorTrait>(
        section: &str,
        settings: &ServiceSettings,
        common: &CommonSettings,
    ) -> Result<Stores, StartError> {
        let url = db::resolve_url(&settings.database, &common.data_dir, section);
        let db = db::connect(&url, &settings.database, &format!("{section}.database")).await?;
        db::migrate::<M>(&db).await.map_err(DbError::Migrate)?;
        let objects_url = storage::resolve_url(&settings.object_store, &common.data_dir, section)?;
        let objects = storage::open(
            &objects_url,
            &settings.object_store,
            &format!("{section}.object_store"),
        )?;
        tracing::info!(service = section, database = %db::redact(&url), objects = %objects_url, "stores ready");
        Ok(Stores {
            db,
            objects,
            objects_url,
        })
    }
}

/// A Lathe gRPC service as the `lathe` binary and tests run it: built from its settings
/// section, then served on a listener until a shutdown future resolves.
pub trait GrpcService: Sized + Send + 'static {
    /// Its section of the settings, e.g. `registry`.
    const SECTION: &'static str;

    /// Its typed settings: [`ServiceSettings`] plus whatever the service adds.
    type Settings: serde::Serialize
        + serde::de::DeserializeOwned
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static;

    /// Embedded defaults of its section.
    fn default_settings() -> Self::Settings;

    /// The part every service has: address, database, object store, registry endpoint.
    fn service_settings(settings: &Self::Settings) -> &ServiceSettings;

    /// Connects and migrates its stores and prepares its clients.
    fn build(
        settings: &Self::Settings,
        common: &CommonSettings,
    ) -> impl std::future::Future<Output = Result<Self, StartError>> + Send;

    /// Its server: routes, and background tasks that end when `shutdown` resolves.
    fn into_server(self, shutdown: Shutdown) -> GrpcServer;

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = Result<(), tonic::transport::Error>> + Send {
        let shutdown = Shutdown::on(shutdown);
        let server = self.into_server(shutdown.clone());
        server.serve(listener, shutdown)
    }
}

/// A shutdown signal that any number of tasks can await.
#[derive(Clone)]
pub struct Shutdown(Shared<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Shutdown {
    pub fn on(signal: impl Future<Output = ()> + Send + 'static) -> Shutdown {
        let signal: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(signal);
        Shutdown(signal.shared())
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.poll_unpin(cx)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}

/// Runs one service as its own process: the configured address, until Ctrl-C or SIGTERM.
pub async fn run_standalone_service<S: GrpcService>(
    config: &crate::config::Config,
    common: &CommonSettings,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let settings = config.section(S::SECTION, S::default_settings())?;
    let service = S::build(&settings, common).await?;
    let addr = S::service_settings(&settings).grpc_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({}.grpc_addr): {e}", S::SECTION))?;
    service.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// The whole `main` of a single-service binary: settings, telemetry, serve until a signal.
pub async fn main_for<S: GrpcService>(process_name: &'static str) -> std::process::ExitCode {
    let result = async {
        let config = crate::config::Config::load(None)?;
        let common = config.common()?;
        let telemetry = crate::telemetry::init(process_name, &common.telemetry)?;
        let outcome = run_standalone_service::<S>(&config, &common).await;
        telemetry.shutdown();
        outcome
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{process_name}: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
