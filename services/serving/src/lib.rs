//! The serving service: registered models deployed behind an alias, answering online
//! predictions with the features of their signature from the online store, and logging them
//! to a monitor.
//!
//! [`runtime`] runs ONNX models in process; [`loading`] fetches and checks a version;
//! [`deployments`] keeps what each deployment serves and follows its aliases; [`predict`]
//! answers one call; [`prediction_counters`] counts each deployment's predictions and live
//! rate; [`batch`] scores a file with the historical retrieval (the deployment list pages with
//! [`lathe_common::paging`]); [`api`] is the gRPC face.
//! [`Serving::build`] connects and migrates its store; `into_server` runs the gRPC server with
//! the alias watcher and the prediction logger.

pub mod api;
pub mod batch;
pub mod deployments;
pub mod loading;
pub mod predict;
pub mod prediction_counters;
pub mod runtime;
pub mod settings;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use lathe_common::auth::{Signer, Verifier};
use lathe_common::config::{CommonSettings, ServiceSettings};
use lathe_common::grpc::{Direct, GrpcServer, TracedChannel};
use lathe_common::projects::ProjectCheck;
use lathe_common::row_log::{self, LogSender, LoggingMetrics, RowQueue};
pub use lathe_common::service::{GrpcService, StartError};
use lathe_common::service::{Shutdown, Stores};
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::features::v1::{GetOnlineFeaturesRequest, GetOnlineFeaturesResponse};
use lathe_contract::service_names;
use lathe_contract::serving::v1::serving_service_server::ServingServiceServer;
pub use settings::ServingSettings;

use crate::batch::BatchScorer;
use crate::deployments::Deployments;
use crate::loading::Registry;
use crate::predict::{OnlineReads, Predictor};

/// The section of the configuration this service reads.
pub const SECTION: &str = "serving";
/// Batch scoring's entity frames and scored files travel in one message; 512 MiB bounds them.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

/// Subject of the tokens prediction logging signs for the monitor.
pub const LOG_SUBJECT: &str = "service:serving";

pub struct Serving {
    stores: Stores,
    projects: ProjectCheck,
    verifier: Arc<Verifier>,
    settings: ServingSettings,
    deployments: Deployments,
    online: OnlineReads,
    features: FeatureServiceClient<TracedChannel>,
    log: RowQueue,
    log_sender: LogSender,
    log_metrics: LoggingMetrics,
}

impl GrpcService for Serving {
    const SECTION: &'static str = SECTION;

    type Settings = ServingSettings;

    fn default_settings() -> ServingSettings {
        ServingSettings::default()
    }

    fn service_settings(settings: &ServingSettings) -> &ServiceSettings {
        &settings.service
    }

    async fn build(settings: &ServingSettings, common: &CommonSettings) -> Result<Serving, StartError> {
        let registry_key = "serving.registry_endpoint";
        let projects = ProjectCheck::connect_lazy(&settings.service.registry_endpoint, registry_key)?;
        let stores = Stores::open::<store::migration::Migrator>(SECTION, &settings.service, common).await?;
        let verifier = lathe_common::service::verifier(common)?;
        let registry = lathe_common::grpc::channel(&settings.service.registry_endpoint, registry_key)?;
        let features = lathe_common::grpc::channel(&settings.features_endpoint, "serving.features_endpoint")?;
        let monitor = lathe_common::grpc::channel(&settings.monitor_endpoint, "serving.monitor_endpoint")?;
        let signer = match Signer::from_settings(&common.auth, &common.data_dir) {
            Ok(signer) => Some(Arc::new(signer)),
            Err(err) => {
                tracing::warn!(error = %err, "serving cannot follow aliases or log predictions: no signing key");
                None
            }
        };
        let deployments = Deployments::new(stores.db.clone(), Registry::new(registry), signer.clone());
        let log_metrics = LoggingMetrics::new("prediction_logging", "predictions");
        let (log, receiver, queued) = row_log::queue(log_metrics.clone());
        let log_sender = LogSender::new(
            receiver,
            queued,
            monitor,
            signer,
            log_metrics.clone(),
            LOG_SUBJECT,
        );
        let features = FeatureServiceClient::new(features)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Serving {
            stores,
            projects,
            verifier,
            settings: settings.clone(),
            deployments,
            online: OnlineReads::Remote(features.clone()),
            features,
            log,
            log_sender,
            log_metrics,
        })
    }

    fn into_server(self, shutdown: Shutdown) -> GrpcServer {
        let every = Duration::from_millis(self.settings.alias_poll_ms.max(10));
        let watcher = tokio::spawn(self.deployments.clone().watch(every, shutdown.clone()));
        let logger = tokio::spawn(self.log_sender.run(shutdown));
        let predictor = Predictor {
            deployments: self.deployments.clone(),
            online: self.online,
            log: self.log,
        };
        let batch = BatchScorer {
            deployments: self.deployments,
            features: self.features,
        };
        let api = api::ServingApi::new(predictor, batch, self.projects);
        let server = ServingServiceServer::new(api)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let routes = tonic::service::Routes::new(server);
        GrpcServer::new(SECTION, service_names::SERVING, routes, self.verifier)
            .with_metrics(self.log_metrics.registry())
            .with_background(watcher)
            .with_background(logger)
    }
}

impl Serving {
    /// The metadata database (deployments).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Reads online features straight from the feature-service's handler in this process
    /// (standalone), instead of over gRPC.
    pub fn with_online_reads(
        mut self,
        direct: Direct<GetOnlineFeaturesRequest, GetOnlineFeaturesResponse>,
    ) -> Serving {
        self.online = OnlineReads::Direct(direct);
        self
    }
}
