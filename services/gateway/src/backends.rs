//! gRPC clients of the services behind the gateway. Network channels connect lazily and
//! reconnect, so the gateway starts before its backends and survives their restarts;
//! `lathe standalone` may hand it in-process channels instead ([`Channels`]).

use lathe_common::config::ConfigError;
use lathe_common::grpc::{Direct, TracedChannel, channel};
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::features::v1::{GetOnlineFeaturesRequest, GetOnlineFeaturesResponse};
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use lathe_contract::registry::v1::logged_model_service_client::LoggedModelServiceClient;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;
use lathe_contract::registry::v1::tracking_service_client::TrackingServiceClient;
use lathe_contract::service_names;
use lathe_contract::serving::v1::serving_service_client::ServingServiceClient;
use tonic_health::pb::health_client::HealthClient;

use crate::settings::GatewaySettings;

/// Entity frames and training sets travel in single messages to and from the feature-service.
pub const FRAME_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

/// One backend, for readiness checks.
#[derive(Clone)]
pub struct Backend {
    pub name: &'static str,
    pub grpc_service: &'static str,
    pub health: HealthClient<TracedChannel>,
}

#[derive(Clone)]
pub struct Backends {
    pub registry: RegistryServiceClient<TracedChannel>,
    /// The registry-service's channel, for calls that need their own codec.
    pub registry_channel: TracedChannel,
    /// Experiments, runs and artifacts; served by the registry-service.
    pub tracking: TrackingServiceClient<TracedChannel>,
    /// Registered models and versions; served by the registry-service.
    pub models: ModelRegistryServiceClient<TracedChannel>,
    /// MLflow 3's logged models, and the files of model versions; served by the registry-service.
    pub logged_models: LoggedModelServiceClient<TracedChannel>,
    pub features: FeatureServiceClient<TracedChannel>,
    pub orchestrator: OrchestratorServiceClient<TracedChannel>,
    pub monitor: MonitorServiceClient<TracedChannel>,
    pub serving: ServingServiceClient<TracedChannel>,
    /// Online reads straight into a feature-service in this process, when there is one.
    pub online: Option<OnlineReads>,
    pub all: Vec<Backend>,
}

/// The feature-service's `GetOnlineFeatures` as a direct call in this process.
pub type OnlineReads = Direct<GetOnlineFeaturesRequest, GetOnlineFeaturesResponse>;

/// One channel to each service.
pub struct Channels {
    pub registry: TracedChannel,
    pub features: TracedChannel,
    pub orchestrator: TracedChannel,
    pub monitor: TracedChannel,
    /// The serving service in this process; when `None`, a network channel to
    /// `gateway.serving_endpoint` (serving may run apart from the rest, as it scales on model CPU).
    pub serving: Option<TracedChannel>,
    /// Online reads without the feature-service's channel, when it runs in this process.
    pub online: Option<OnlineReads>,
}

impl Channels {
    /// Network channels to the endpoints in the settings.
    pub fn connect_lazy(settings: &GatewaySettings) -> Result<Channels, ConfigError> {
        Ok(Channels {
            registry: channel(&settings.registry_endpoint, "gateway.registry_endpoint")?,
            features: channel(&settings.features_endpoint, "gateway.features_endpoint")?,
            orchestrator: channel(&settings.orchestrator_endpoint, "gateway.orchestrator_endpoint")?,
            monitor: channel(&settings.monitor_endpoint, "gateway.monitor_endpoint")?,
            serving: Some(serving_channel(settings)?),
            online: None,
        })
    }
}

fn serving_channel(settings: &GatewaySettings) -> Result<TracedChannel, ConfigError> {
    channel(&settings.serving_endpoint, "gateway.serving_endpoint")
}

impl Backends {
    /// Clients on `channels`; `settings` gives the endpoint of a service without a channel.
    pub fn new(channels: Channels, settings: &GatewaySettings) -> Result<Backends, ConfigError> {
        let Channels {
            registry,
            features,
            orchestrator,
            monitor,
            serving,
            online,
        } = channels;
        let serving = match serving {
            Some(in_process) => in_process,
            None => serving_channel(settings)?,
        };
        let backend = |name, grpc_service, channel: &TracedChannel| Backend {
            name,
            grpc_service,
            health: HealthClient::new(channel.clone()),
        };
        let all = vec![
            backend("registry", service_names::REGISTRY, &registry),
            backend("features", service_names::FEATURES, &features),
            backend("orchestrator", service_names::ORCHESTRATOR, &orchestrator),
            backend("monitor", service_names::MONITOR, &monitor),
            backend("serving", service_names::SERVING, &serving),
        ];
        Ok(Backends {
            tracking: TrackingServiceClient::new(registry.clone()),
            models: ModelRegistryServiceClient::new(registry.clone()),
            logged_models: LoggedModelServiceClient::new(registry.clone()),
            registry: RegistryServiceClient::new(registry.clone()),
            registry_channel: registry,
            features: FeatureServiceClient::new(features)
                .max_decoding_message_size(FRAME_MESSAGE_BYTES)
                .max_encoding_message_size(FRAME_MESSAGE_BYTES),
            orchestrator: OrchestratorServiceClient::new(orchestrator),
            // Logged batches, uploaded Parquet and HTML reports are larger than tonic's 4 MiB.
            monitor: MonitorServiceClient::new(monitor)
                .max_decoding_message_size(FRAME_MESSAGE_BYTES)
                .max_encoding_message_size(FRAME_MESSAGE_BYTES),
            // Batch scoring sends an entity frame and answers a scored Parquet file.
            serving: ServingServiceClient::new(serving)
                .max_decoding_message_size(FRAME_MESSAGE_BYTES)
                .max_encoding_message_size(FRAME_MESSAGE_BYTES),
            online,
            all,
        })
    }

    // A call takes its client by `&mut`; clients are cheap handles on one shared channel, so
    // each call works on its own copy.

    pub fn registry(&self) -> RegistryServiceClient<TracedChannel> {
        self.registry.clone()
    }

    pub fn tracking(&self) -> TrackingServiceClient<TracedChannel> {
        self.tracking.clone()
    }

    pub fn models(&self) -> ModelRegistryServiceClient<TracedChannel> {
        self.models.clone()
    }

    pub fn logged_models(&self) -> LoggedModelServiceClient<TracedChannel> {
        self.logged_models.clone()
    }

    pub fn features(&self) -> FeatureServiceClient<TracedChannel> {
        self.features.clone()
    }

    pub fn orchestrator(&self) -> OrchestratorServiceClient<TracedChannel> {
        self.orchestrator.clone()
    }

    pub fn monitor(&self) -> MonitorServiceClient<TracedChannel> {
        self.monitor.clone()
    }

    pub fn serving(&self) -> ServingServiceClient<TracedChannel> {
        self.serving.clone()
    }
}
