//! `lathe standalone` as a library: every service and the gateway in one process, each
//! service on its own loopback gRPC port and talking gRPC to the others. Standalone is a
//! composition of the same builders `lathe serve` uses, not a fork; tests start it too.
//!
//! The gateway calls the services through in-process channels by default
//! (`standalone.in_process`): the same gRPC codec, layers and handlers as over the network,
//! without HTTP/2 and sockets in between; online feature reads, the hot path, go straight to
//! the feature-service's handler ([`lathe_common::grpc::Direct`]). With `in_process = false`
//! it goes over loopback gRPC, exactly as the separate processes of the docker-compose stack do.

pub mod churn_data;

use std::net::SocketAddr;

use lathe_common::config::{CommonSettings, Config, ConfigError, ServiceSettings};
use lathe_common::service::{GrpcService, Shutdown, StartError};
use lathe_feature_service::Features;
use lathe_gateway::backends::Channels;
use lathe_gateway::{Gateway, GatewaySettings};
use lathe_monitor::Monitor;
use lathe_orchestrator::Orchestrator;
use lathe_registry_service::Registry;
use lathe_serving::Serving;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Everything standalone needs: the shared settings and each service's section.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    pub common: CommonSettings,
    pub gateway: GatewaySettings,
    pub registry: ServiceSettings,
    pub features: lathe_feature_service::FeatureSettings,
    pub orchestrator: lathe_orchestrator::OrchestratorSettings,
    pub monitor: lathe_monitor::MonitorSettings,
    pub serving: lathe_serving::ServingSettings,
    pub standalone: StandaloneSettings,
}

/// The `standalone` section: how the parts of one process reach each other.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandaloneSettings {
    /// The gateway calls the services in this process (true) or over their loopback gRPC
    /// ports (false). The ports serve other gRPC clients either way.
    pub in_process: bool,
}

impl Default for StandaloneSettings {
    fn default() -> Self {
        StandaloneSettings { in_process: true }
    }
}

impl PlatformSettings {
    pub fn from_config(config: &Config) -> Result<PlatformSettings, ConfigError> {
        config.refuse_unknown_sections(&[
            lathe_gateway::SECTION,
            Registry::SECTION,
            Features::SECTION,
            Orchestrator::SECTION,
            Monitor::SECTION,
            Serving::SECTION,
            "standalone",
            "telemetry",
            "auth",
        ])?;
        let gateway = config.section(lathe_gateway::SECTION, GatewaySettings::default())?;
        gateway.validate()?;
        Ok(PlatformSettings {
            common: config.common()?,
            gateway,
            registry: config.section(Registry::SECTION, Registry::default_settings())?,
            features: config.section(Features::SECTION, Features::default_settings())?,
            orchestrator: config.section(Orchestrator::SECTION, Orchestrator::default_settings())?,
            monitor: config.section(Monitor::SECTION, Monitor::default_settings())?,
            serving: config.section(Serving::SECTION, Serving::default_settings())?,
            standalone: config.section("standalone", StandaloneSettings::default())?,
        })
    }

    /// Every listener on an ephemeral loopback port (for tests and side-by-side runs).
    pub fn on_ephemeral_ports(mut self) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        self.gateway.http_addr = any;
        for service in [
            &mut self.registry,
            &mut self.features.service,
            &mut self.orchestrator.service,
            &mut self.monitor.service,
            &mut self.serving.service,
        ] {
            service.grpc_addr = any;
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{service}: {source}")]
    Start {
        service: &'static str,
        #[source]
        source: StartError,
    },
    #[error("gateway: {0}")]
    Gateway(#[from] lathe_gateway::StartError),
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        addr: SocketAddr,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} stopped unexpectedly: {1}")]
    Crashed(&'static str, String),
}

/// A running platform.
pub struct Platform {
    pub http_addr: SocketAddr,
    /// gRPC address of each service, by settings section name.
    pub grpc_addrs: Vec<(&'static str, SocketAddr)>,
    /// The gateway's one-time sign-in links.
    pub sign_in: lathe_gateway::session::SignInCodes,
    stop: watch::Sender<bool>,
    tasks: JoinSet<(&'static str, Result<(), String>)>,
}

impl Platform {
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// A one-time link that signs a browser in as `token` and goes on to `next` (a path).
    pub fn sign_in_link(&self, token: String, next: &str) -> String {
        let code = self.sign_in.issue(token, lathe_gateway::session::SIGN_IN_TTL);
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        format!("{}/ui/sign-in?code={code}&next={next}", self.url())
    }

    pub fn grpc_addr(&self, service: &str) -> Option<SocketAddr> {
        self.grpc_addrs
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, addr)| *addr)
    }

    /// Waits until a component stops by itself (an error) and reports it.
    pub async fn wait_for_failure(&mut self) -> PlatformError {
        match self.tasks.join_next().await {
            Some(Ok((name, Err(err)))) => PlatformError::Crashed(name, err),
            Some(Ok((name, Ok(())))) => PlatformError::Crashed(name, "exited".to_owned()),
            Some(Err(join)) => PlatformError::Crashed("a component", join.to_string()),
            None => PlatformError::Crashed("every component", "nothing is running".to_owned()),
        }
    }

    /// Stops every component gracefully and waits for them to drain.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok((name, Err(err))) = joined {
                tracing::warn!(component = name, error = %err, "stopped with an error");
            }
        }
    }
}

fn stop_signal(stop: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = stop.subscribe();
    async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

async fn bind(addr: SocketAddr, key: String) -> Result<tokio::net::TcpListener, PlatformError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| PlatformError::Bind { addr, key, source })
}

fn endpoint(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Starts the services and the gateway; returns once all are listening.
pub async fn start(mut settings: PlatformSettings) -> Result<Platform, PlatformError> {
    let (stop, _) = watch::channel(false);
    let registry_listener = bind(settings.registry.grpc_addr, "registry.grpc_addr".into()).await?;
    let features_listener = bind(settings.features.service.grpc_addr, "features.grpc_addr".into()).await?;
    let orchestrator_listener = bind(
        settings.orchestrator.service.grpc_addr,
        "orchestrator.grpc_addr".into(),
    )
    .await?;
    let monitor_listener = bind(settings.monitor.service.grpc_addr, "monitor.grpc_addr".into()).await?;
    let serving_listener = bind(settings.serving.service.grpc_addr, "serving.grpc_addr".into()).await?;
    let local = |l: &tokio::net::TcpListener| l.local_addr().expect("a bound listener has an address");
    let grpc_addrs = vec![
        ("registry", local(&registry_listener)),
        ("features", local(&features_listener)),
        ("orchestrator", local(&orchestrator_listener)),
        ("monitor", local(&monitor_listener)),
        ("serving", local(&serving_listener)),
    ];

    // Wire every client to the addresses actually bound.
    let registry_endpoint = endpoint(grpc_addrs[0].1);
    for service in [
        &mut settings.features.service,
        &mut settings.orchestrator.service,
        &mut settings.monitor.service,
        &mut settings.serving.service,
    ] {
        service.registry_endpoint = registry_endpoint.clone();
    }
    settings.gateway.registry_endpoint = registry_endpoint;
    settings.gateway.features_endpoint = endpoint(grpc_addrs[1].1);
    settings.orchestrator.features_endpoint = endpoint(grpc_addrs[1].1);
    settings.monitor.features_endpoint = endpoint(grpc_addrs[1].1);
    settings.monitor.orchestrator_endpoint = endpoint(grpc_addrs[2].1);
    settings.orchestrator.monitor_endpoint = endpoint(grpc_addrs[3].1);
    settings.features.monitor_endpoint = endpoint(grpc_addrs[3].1);
    settings.gateway.orchestrator_endpoint = endpoint(grpc_addrs[2].1);
    settings.gateway.monitor_endpoint = endpoint(grpc_addrs[3].1);
    settings.serving.features_endpoint = endpoint(grpc_addrs[1].1);
    settings.serving.monitor_endpoint = endpoint(grpc_addrs[3].1);
    settings.gateway.serving_endpoint = endpoint(grpc_addrs[4].1);

    let http_listener =
        std::net::TcpListener::bind(settings.gateway.http_addr).map_err(|source| PlatformError::Bind {
            addr: settings.gateway.http_addr,
            key: "gateway.http_addr".into(),
            source,
        })?;
    let http_addr = http_listener.local_addr().map_err(|source| PlatformError::Bind {
        addr: settings.gateway.http_addr,
        key: "gateway.http_addr".into(),
        source,
    })?;

    // Command tasks call the gateway at the address it actually has.
    settings.orchestrator.worker.gateway_url = format!("http://{http_addr}");
    let common = &settings.common;
    let started = |service: &'static str| move |source| PlatformError::Start { service, source };
    let registry = Registry::build(&settings.registry, common)
        .await
        .map_err(started("registry"))?
        .into_server(Shutdown::on(stop_signal(&stop)));
    let features = Features::build(&settings.features, common)
        .await
        .map_err(started("features"))?
        .into_server(Shutdown::on(stop_signal(&stop)));
    let orchestrator = Orchestrator::build(&settings.orchestrator, common)
        .await
        .map_err(started("orchestrator"))?
        .into_server(Shutdown::on(stop_signal(&stop)));
    let monitor = Monitor::build(&settings.monitor, common)
        .await
        .map_err(started("monitor"))?
        .into_server(Shutdown::on(stop_signal(&stop)));
    let mut serving = Serving::build(&settings.serving, common)
        .await
        .map_err(started("serving"))?;
    if settings.standalone.in_process
        && let Some(direct) = lathe_feature_service::online_reads(&features)
    {
        serving = serving.with_online_reads(direct);
    }
    let serving = serving.into_server(Shutdown::on(stop_signal(&stop)));
    let gateway = if settings.standalone.in_process {
        let channels = Channels {
            registry: registry.in_process(),
            features: features.in_process(),
            orchestrator: orchestrator.in_process(),
            monitor: monitor.in_process(),
            serving: Some(serving.in_process()),
            online: lathe_feature_service::online_reads(&features),
        };
        Gateway::with_channels(settings.gateway.clone(), common, channels)?
    } else {
        Gateway::build(settings.gateway.clone(), common)?
    };
    let sign_in = gateway.sign_in_codes();
    let mut tasks = JoinSet::new();
    let servers = [
        ("registry", registry, registry_listener),
        ("features", features, features_listener),
        ("orchestrator", orchestrator, orchestrator_listener),
        ("monitor", monitor, monitor_listener),
        ("serving", serving, serving_listener),
    ];
    for (name, server, listener) in servers {
        let shutdown = stop_signal(&stop);
        tasks.spawn(async move {
            let result = server.serve(listener, shutdown).await;
            (name, result.map_err(|e| e.to_string()))
        });
    }
    let gateway = gateway.serve(http_listener, stop_signal(&stop))?;
    tasks.spawn(async move { ("gateway", gateway.await.map_err(|e| e.to_string())) });

    Ok(Platform {
        http_addr,
        grpc_addrs,
        sign_in,
        stop,
        tasks,
    })
}
