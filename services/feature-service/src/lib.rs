//! The feature-service: feature definitions, point-in-time retrieval, materialization,
//! online serving and push.
//!
//! [`Features::build`] connects and migrates its stores; [`Features::serve`] runs the gRPC
//! server on a given listener until a given shutdown future resolves.

pub mod aggregation;
pub mod api;
pub mod catalog;
pub mod definitions;
pub mod feature_values;
pub mod logging;
pub mod offline;
pub mod online;
pub mod project_data;
pub mod settings;
pub mod store;

use std::sync::Arc;

use lathe_common::access;
use lathe_common::auth::{Role, Signer, Verifier};
use lathe_common::config::{CommonSettings, ServiceSettings};
use lathe_common::grpc::{Direct, GrpcServer};
use lathe_common::projects::ProjectCheck;
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::features::v1::feature_service_server::FeatureServiceServer;
use lathe_contract::features::v1::{GetOnlineFeaturesRequest, GetOnlineFeaturesResponse};
use lathe_contract::service_names;
use online::{EmbeddedOnlineStore, OnlineStore, RedisOnlineStore};

/// The section of the configuration this service reads.
pub const SECTION: &str = "features";

pub use settings::FeatureSettings;

pub fn default_settings() -> FeatureSettings {
    FeatureSettings::default()
}

pub struct Features {
    stores: Stores,
    projects: ProjectCheck,
    online: Arc<dyn OnlineStore>,
    verifier: Arc<Verifier>,
    logger: logging::RowLogger,
    log_sender: logging::LogSender,
    logging_metrics: logging::LoggingMetrics,
}

impl GrpcService for Features {
    const SECTION: &'static str = SECTION;

    type Settings = FeatureSettings;

    fn default_settings() -> FeatureSettings {
        default_settings()
    }

    fn service_settings(settings: &FeatureSettings) -> &ServiceSettings {
        &settings.service
    }

    async fn build(settings: &FeatureSettings, common: &CommonSettings) -> Result<Features, StartError> {
        let projects =
            ProjectCheck::connect_lazy(&settings.service.registry_endpoint, "features.registry_endpoint")?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, &settings.service, common).await?;
        let online: Arc<dyn OnlineStore> = match &settings.online_store.url {
            Some(url) => Arc::new(
                RedisOnlineStore::connect(url, &settings.online_store.key_prefix)
                    .await
                    .map_err(|e| StartError::Backend(format!("features.online_store.url: {e}")))?,
            ),
            None => {
                let path = settings::OnlineStoreSettings::embedded_path(&common.data_dir);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StartError::Backend(format!("cannot create {}: {e}", dir.display())))?;
                }
                Arc::new(
                    EmbeddedOnlineStore::open(&path)
                        .await
                        .map_err(|e| StartError::Backend(format!("online store {}: {e}", path.display())))?,
                )
            }
        };
        let monitor = lathe_common::grpc::channel(&settings.monitor_endpoint, "features.monitor_endpoint")?;
        let logging_metrics = logging::metrics();
        let (logger, queue, queued) = logging::queue(logging_metrics.clone());
        let log_sender = logging::LogSender::new(
            queue,
            queued,
            monitor,
            logging_signer(common),
            logging_metrics.clone(),
            logging::SUBJECT,
        );
        Ok(Features {
            stores,
            projects,
            online,
            verifier: lathe_common::service::verifier(common)?,
            logger,
            log_sender,
            logging_metrics,
        })
    }

    fn into_server(self, shutdown: Shutdown) -> GrpcServer {
        let definitions = store::definitions::DefinitionStore::new(self.stores.db.clone());
        let values = feature_values::FeatureValues::new(
            definitions.clone(),
            store::materializations::Materializations::new(self.stores.db.clone()),
            self.stores.objects.clone(),
            self.online.clone(),
            self.logger,
        );
        let online = Arc::new(values.clone());
        let metrics = self.logging_metrics.registry();
        metrics
            .register(Box::new(values.late_events_counter()))
            .expect("the late events counter is registered once");
        let projects = self.projects.clone();
        let catalog = catalog::Catalog::new(definitions, self.projects.clone());
        let api = api::FeaturesApi::new(catalog, values, self.projects);
        let server = FeatureServiceServer::new(api)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let routes = tonic::service::Routes::new(server);
        // Sends logged rows until shutdown; the server waits for its last batches.
        let log_sender = tokio::spawn(self.log_sender.run(shutdown));
        // An online read is a cache lookup and one round trip to the online store (or a
        // blocking-pool read of the embedded one): in this process, cheaper than the codec and
        // a hop between threads. The same call as the routes' GetOnlineFeatures handler.
        GrpcServer::new(SECTION, service_names::FEATURES, routes, self.verifier)
            .with_metrics(metrics)
            .with_background(log_sender)
            .with_direct_method(
                service_names::FEATURES,
                ONLINE_METHOD,
                move |request: GetOnlineFeaturesRequest| {
                    let (online, projects) = (online.clone(), projects.clone());
                    async move {
                        // Called on the caller's own task, which has its verified caller in scope.
                        let request = tonic::Request::new(request);
                        access::require(&request, Role::Viewer, &request.get_ref().project)?;
                        let request = request.into_inner();
                        let project = request.project.clone();
                        let answer = online.online_features(request).await;
                        Ok(projects.explain_miss(&project, answer).await?)
                    }
                },
            )
    }
}

/// The method the server offers as a direct call in this process.
const ONLINE_METHOD: &str = "GetOnlineFeatures";

/// `GetOnlineFeatures` of a server made by [`Features`], as a direct call in this process
/// (see [`lathe_common::grpc::Direct`]).
pub fn online_reads(
    server: &GrpcServer,
) -> Option<Direct<GetOnlineFeaturesRequest, GetOnlineFeaturesResponse>> {
    server.direct(service_names::FEATURES, ONLINE_METHOD)
}

/// Entity frames and training sets travel in one message; 512 MiB bounds them.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

impl Features {
    /// The metadata database and the object store (offline feature data).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The counters of feature logging (rows sent, dropped, failed), for `/metrics`.
    pub fn logging_metrics(&self) -> &logging::LoggingMetrics {
        &self.logging_metrics
    }
}

/// Signs the tokens of feature logging's calls to the monitor; without a key (RS256 with no
/// private key configured) logged rows cannot be sent, which is said once here.
fn logging_signer(common: &CommonSettings) -> Option<Arc<Signer>> {
    match Signer::from_settings(&common.auth, &common.data_dir) {
        Ok(signer) => Some(Arc::new(signer)),
        Err(err) => {
            tracing::warn!(error = %err, "feature logging cannot call the monitor: no signing key");
            None
        }
    }
}
