//! The API gateway: REST + OpenAPI outward, gRPC inward, JWT auth and roles in between.
//!
//! [`Gateway::build`] prepares clients and keys; [`Gateway::serve`] runs the HTTP server on a
//! given listener until a given shutdown future resolves, then drains in-flight requests.

pub mod api;
pub mod auth;
pub mod backends;
pub mod error;
pub mod metrics;
pub mod session;
pub mod settings;
pub mod spans;
pub mod ui;
pub mod uri_limit;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_http::error::DispatchError;
use actix_service::{ServiceFactoryExt, map_config};
use actix_web::dev::{AppConfig, Server, fn_service};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, web};
use lathe_common::auth::{KeyError, Verifier};
use lathe_common::config::{CommonSettings, ConfigError};
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode};
use tokio::net::TcpStream;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::openapi::ApiDoc;
use crate::backends::{Backends, Channels};
use crate::error::ApiError;
use crate::metrics::HttpMetrics;
pub use crate::settings::GatewaySettings;
use crate::uri_limit::RequestLineGuard;

/// The section of the configuration the gateway reads.
pub const SECTION: &str = "gateway";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot load the JWT key: {0}")]
    Key(#[from] KeyError),
    #[error("cannot start the HTTP server: {0}")]
    Bind(#[from] std::io::Error),
}

pub struct Gateway {
    settings: GatewaySettings,
    verifier: Arc<Verifier>,
    backends: Backends,
    sign_in: session::SignInCodes,
}

impl Gateway {
    /// The gateway with network channels to the endpoints in `settings`.
    pub fn build(settings: GatewaySettings, common: &CommonSettings) -> Result<Gateway, StartError> {
        let channels = Channels::connect_lazy(&settings)?;
        Gateway::with_channels(settings, common, channels)
    }

    /// The one-time sign-in links this gateway redeems: issue one for a token and print
    /// `/ui/sign-in?code=…` (as `lathe standalone` does).
    pub fn sign_in_codes(&self) -> session::SignInCodes {
        self.sign_in.clone()
    }

    /// The gateway calling the services through `channels` (its endpoint settings unused).
    pub fn with_channels(
        settings: GatewaySettings,
        common: &CommonSettings,
        channels: Channels,
    ) -> Result<Gateway, StartError> {
        settings.validate()?;
        let verifier = Arc::new(Verifier::from_settings(&common.auth, &common.data_dir)?);
        let backends = Backends::new(channels, &settings)?;
        Ok(Gateway {
            settings,
            verifier,
            backends,
            sign_in: session::SignInCodes::default(),
        })
    }

    /// Starts serving HTTP on `listener`; the returned future runs until `shutdown` resolves
    /// and in-flight requests have drained. Call within a Tokio runtime.
    pub fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<impl Future<Output = Result<(), StartError>> + Send, StartError> {
        let settings = web::Data::new(self.settings.clone());
        let verifier = web::Data::new(self.verifier);
        let backends = web::Data::new(self.backends);
        let sign_in = web::Data::new(self.sign_in);
        let metrics = web::Data::new(HttpMetrics::default());
        let body_limit = self.settings.body_limit_bytes;
        let app = move || {
            App::new()
                .app_data(settings.clone())
                .app_data(verifier.clone())
                .app_data(backends.clone())
                .app_data(sign_in.clone())
                .app_data(metrics.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(error::json_error),
                )
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .wrap(from_fn(auth::scope_caller))
                .wrap(from_fn(uri_limit::refuse_long_uris))
                .wrap(from_fn(metrics::record))
                .wrap(TracingLogger::<spans::RootSpan>::new())
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .configure(api::routes)
                .openapi_service(|doc| {
                    SwaggerUi::new("/api-docs/{_:.*}")
                        .url("/api-docs/openapi.json", api::openapi::finish(doc))
                })
                .into_app()
                // Browser navigations, not API calls: outside the OpenAPI document. Compressed
                // (the UI's scripts shrink to a third); the sign-in link comes before the UI's
                // catch-all `/ui/…`.
                .service(api::session::sign_in_link)
                .service(
                    web::scope("")
                        .wrap(actix_web::middleware::Compress::default())
                        .service(ui::home)
                        .service(ui::assets)
                        .service(ui::page),
                )
                .default_service(web::to(not_found))
        };
        // What `HttpServer::listen` builds, with each connection behind a `RequestLineGuard`:
        // actix refuses an over-long request line itself, before the app, with a bare 400.
        let addr = listener.local_addr()?;
        let mut builder = Server::build().disable_signals().shutdown_timeout(30);
        if self.settings.workers > 0 {
            builder = builder.workers(self.settings.workers);
        }
        let shutdown_signal = builder.graceful_shutdown_signal();
        let builder = builder.listen("lathe-gateway", listener, move || {
            let shutdown_signal = shutdown_signal.clone();
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = shutdown_signal.clone();
                    async move { signal.notified().await }
                })
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .h1(map_config(app(), move |()| {
                    // `AppConfig` has no public constructor; this is the one actix-test uses.
                    AppConfig::__priv_test_new(false, addr.to_string(), addr)
                }));
            fn_service(|io: TcpStream| async move {
                // actix-server accepts sockets as they are, and actix-http sets TCP_NODELAY only
                // in its own `tcp()` acceptors, which this one replaces. Without it Nagle's
                // algorithm may hold a small write back until the client's delayed ACK (the
                // ~40 ms stall MLflow's own server shows on reused connections). Best effort: a
                // socket that refuses it still serves.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, DispatchError>((RequestLineGuard::new(io), peer))
            })
            .and_then(http)
        })?;
        let server = builder.run();
        let handle = server.handle();
        tokio::spawn(async move {
            shutdown.await;
            handle.stop(true).await;
        });
        tracing::info!(%addr, "gateway listening");
        Ok(async move {
            server.await?;
            tracing::info!("gateway stopped");
            Ok(())
        })
    }
}

/// The OpenAPI document the gateway serves at `/api-docs/openapi.json`, built without a server:
/// `lathe openapi` prints it, and the web UI's API client is generated from it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(api::routes)
        .split_for_parts();
    api::openapi::finish(doc)
}

/// Runs the gateway from its settings section on its configured address until `shutdown`.
pub async fn run(
    config: &lathe_common::config::Config,
    common: &CommonSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let settings = config.section(SECTION, GatewaySettings::default())?;
    let listener = TcpListener::bind(settings.http_addr)
        .map_err(|e| format!("cannot listen on {} (gateway.http_addr): {e}", settings.http_addr))?;
    Gateway::build(settings, common)?
        .serve(listener, shutdown)?
        .await?;
    Ok(())
}

/// Unknown routes: under `/api/` the token is checked first, so probing reveals nothing.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.path().starts_with("/api/") {
        auth::authenticate(&req)?;
    }
    Err(ApiError(
        Error::new(
            ErrorCode::NotFound,
            format!("no route for {} {}", req.method(), req.path()),
        )
        .with_reason(reasons::ROUTE_NOT_FOUND),
    ))
}
