//! What every Lathe gRPC service shares: a server with health, reflection, Prometheus
//! `/metrics` on the same port (HTTP/1.1), a layer that records request counts and latency and
//! continues the caller's trace, and client channels that carry the trace onwards.
//!
//! A client reaches a service through a [`TracedChannel`]: over the network ([`channel`]), or,
//! when both run in one process (`lathe standalone`), straight into the server's routes
//! ([`GrpcServer::in_process`]). Both go through the same codec, layers and handlers; the
//! in-process one skips HTTP/2 framing, the sockets and the connection tasks. A hot unary
//! method can also be called in process with its request value ([`Direct`]): no codec and
//! no HTTP request, the same metrics and server span.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tracing::Instrument;

use crate::access::{self, OutgoingInterceptor};
use crate::auth::Verifier;
use crate::config::ConfigError;
use crate::telemetry;

/// HTTP/2 flow-control windows of every Lathe gRPC client and server.
pub const STREAM_WINDOW_BYTES: u32 = 4 * 1024 * 1024;
pub const CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;

/// What a client sends its calls through: a network channel or a server in this process. Its
/// errors are already the statuses the client would make of them.
pub type Transport = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, tonic::Status>;

/// A client channel that propagates the current trace context and the caller in scope
/// ([`crate::access`]).
pub type TracedChannel = InterceptedService<Transport, OutgoingInterceptor>;

/// A lazily connecting channel to `endpoint` (`http://host:port`); `key` names the setting.
pub fn channel(endpoint: &str, key: &str) -> Result<TracedChannel, ConfigError> {
    let channel = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| ConfigError::invalid(key, format!("'{endpoint}' is not a valid endpoint: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        // Artifact and training-set streams move megabytes: HTTP/2's default 64 KiB windows
        // would stall them on every few frames.
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .connect_lazy();
    let transport = BoxCloneSyncService::new(channel.map_err(|err| tonic::Status::from_error(Box::new(err))));
    Ok(InterceptedService::new(transport, OutgoingInterceptor))
}

/// Calls a server's routes in this process. Each call runs as its own task on `runtime`, as
/// it would on the server's side of a connection: a handler that spawns work or blocks for a
/// moment does so on the services' runtime, not on the caller's (the gateway's HTTP workers
/// run their own). Dropping the call's future aborts the task, as a reset stream would.
#[derive(Clone)]
struct InProcess<S> {
    service: S,
    runtime: tokio::runtime::Handle,
}

impl<S> tower_service::Service<http::Request<Body>> for InProcess<S>
where
    S: tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is awaited inside the task, on the clone that serves the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let service = self.service.clone();
        let task = self.runtime.spawn(service.oneshot(request));
        let abort = AbortOnDrop(task.abort_handle());
        Box::pin(async move {
            let result = task.await;
            drop(abort);
            match result {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(never)) => match never {},
                Err(join) => Err(tonic::Status::internal(format!(
                    "the service's task failed: {join}"
                ))),
            }
        })
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        // A no-op once the task has finished.
        self.0.abort();
    }
}

/// The span of one request a server handles; its status code is recorded when it ends.
fn server_span(path: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc.server",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.grpc.status_code = tracing::field::Empty,
    )
}

/// `/package.Service/Method`, the path a method's requests are routed by.
fn method_path(grpc_name: &str, method: &str) -> String {
    format!("/{grpc_name}/{method}")
}

type DirectHandler<Req, Resp> =
    dyn Fn(Req) -> Pin<Box<dyn Future<Output = Result<Resp, tonic::Status>> + Send>> + Send + Sync;

/// A unary method of a server in this process, called with its request value: no codec, no
/// HTTP request and no hand-off to another runtime, with the same request metrics and
/// `grpc.server` span as a call through the routes. For short calls that neither block nor
/// spawn work they wait for (an online feature read), where the rest would cost more than the
/// call. Made by [`GrpcServer::with_direct_method`], taken by [`GrpcServer::direct`].
pub struct Direct<Req, Resp> {
    path: Arc<str>,
    metrics: Arc<GrpcMetrics>,
    handler: Arc<DirectHandler<Req, Resp>>,
}

impl<Req, Resp> Clone for Direct<Req, Resp> {
    fn clone(&self) -> Self {
        Direct {
            path: self.path.clone(),
            metrics: self.metrics.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<Req, Resp> Direct<Req, Resp> {
    pub async fn call(&self, request: Req) -> Result<Resp, tonic::Status> {
        let span = server_span(&self.path);
        let started = Instant::now();
        let result = (self.handler)(request).instrument(span.clone()).await;
        // The codes as the routes' layer records them (the `grpc-status` header's value).
        let code = match &result {
            Ok(_) => std::borrow::Cow::Borrowed("0"),
            Err(status) => std::borrow::Cow::Owned((status.code() as i32).to_string()),
        };
        span.record("rpc.grpc.status_code", &*code);
        self.metrics.observe(&self.path, &code, started.elapsed());
        result
    }
}

/// Request counters and latency histograms of one service, in its own Prometheus registry.
pub struct GrpcMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// The service's own metrics ([`GrpcServer::with_metrics`]), exported beside these.
    extra: std::sync::RwLock<Vec<Registry>>,
}

impl GrpcMetrics {
    pub fn new(service: &str) -> GrpcMetrics {
        let registry = Registry::new_custom(Some("lathe".to_owned()), None).expect("static prefix is valid");
        let requests = IntCounterVec::new(
            Opts::new(
                "grpc_server_requests_total",
                "gRPC requests handled, by method and status code",
            )
            .const_label("service", service),
            &["method", "code"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_request_duration_seconds",
                "gRPC request latency, by method",
            )
            .const_label("service", service)
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(latency.clone()))
            .expect("registered once");
        GrpcMetrics {
            registry,
            requests,
            latency,
            extra: std::sync::RwLock::default(),
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let mut families = self.registry.gather();
        if let Ok(extra) = self.extra.read() {
            families.extend(extra.iter().flat_map(Registry::gather));
        }
        let _ = TextEncoder::new().encode(&families, &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    fn observe(&self, method: &str, code: &str, elapsed: Duration) {
        self.requests.with_label_values(&[method, code]).inc();
        self.latency
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }
}

/// Records metrics for, and continues the remote trace of, every gRPC request.
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<GrpcMetrics>,
}

impl<S> tower_layer::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for Observe<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // Take the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path().to_owned();
        if path == "/metrics" {
            return Box::pin(inner.call(request));
        }
        let span = server_span(&path);
        telemetry::set_remote_parent(&span, request.headers());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let future = span.in_scope(|| inner.call(request));
        Box::pin(
            async move {
                let result = future.await;
                let code = match &result {
                    // Errors are sent trailers-only, so their status is in the headers.
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0")
                        .to_owned(),
                    Err(_) => "transport".to_owned(),
                };
                tracing::Span::current().record("rpc.grpc.status_code", code.as_str());
                metrics.observe(&path, &code, started.elapsed());
                result
            }
            .instrument(span),
        )
    }
}

/// A gRPC service's server: its routes plus health, reflection and `/metrics`, and the
/// background tasks it waits for when it stops.
pub struct GrpcServer {
    service_name: &'static str,
    grpc_names: Vec<&'static str>,
    /// Every route: the service's, health, reflection and `/metrics`.
    routes: Routes,
    health: HealthReporter,
    metrics: Arc<GrpcMetrics>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// [`Direct`] methods by path (`/package.Service/Method`).
    direct: HashMap<String, Box<dyn Any + Send + Sync>>,
}

impl GrpcServer {
    /// `service_name` is Lathe's short name (`registry`), `grpc_name` the contract's full name.
    /// Every call to `routes` must carry a token `verifier` accepts ([`access::authenticate`]);
    /// health, reflection and `/metrics` are open.
    pub fn new(
        service_name: &'static str,
        grpc_name: &'static str,
        routes: Routes,
        verifier: Arc<Verifier>,
    ) -> GrpcServer {
        let (health, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lathe_contract::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the compiled descriptor sets are valid");
        let metrics = Arc::new(GrpcMetrics::new(service_name));
        let exposition = metrics.clone();
        let router = routes
            .add_service(health_service)
            .add_service(reflection)
            .into_axum_router()
            .route(
                "/metrics",
                axum::routing::get(move || std::future::ready(exposition.render())),
            )
            .layer(axum::middleware::from_fn_with_state(
                verifier,
                access::authenticate,
            ));
        GrpcServer {
            service_name,
            grpc_names: vec![grpc_name],
            routes: Routes::from(router),
            health,
            metrics,
            background: Vec::new(),
            direct: HashMap::new(),
        }
    }

    /// Offers `method` of the service `grpc_name` to callers in this process as a [`Direct`]
    /// call of `handler`, which must answer as the routes' handler of that method does.
    pub fn with_direct_method<Req, Resp, F, Fut>(
        mut self,
        grpc_name: &str,
        method: &str,
        handler: F,
    ) -> GrpcServer
    where
        Req: 'static,
        Resp: 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, tonic::Status>> + Send + 'static,
    {
        let path = method_path(grpc_name, method);
        let handler: Arc<DirectHandler<Req, Resp>> = Arc::new(move |request| Box::pin(handler(request)));
        let direct = Direct {
            path: path.as_str().into(),
            metrics: self.metrics.clone(),
            handler,
        };
        self.direct.insert(path, Box::new(direct));
        self
    }

    /// The [`Direct`] call of `method` of `grpc_name`, if the server offers one with these
    /// request and response types.
    pub fn direct<Req: 'static, Resp: 'static>(
        &self,
        grpc_name: &str,
        method: &str,
    ) -> Option<Direct<Req, Resp>> {
        self.direct
            .get(&method_path(grpc_name, method))?
            .downcast_ref::<Direct<Req, Resp>>()
            .cloned()
    }

    /// Adds a further gRPC service (already in the routes) to the health reports.
    pub fn with_health_for(mut self, grpc_name: &'static str) -> GrpcServer {
        self.grpc_names.push(grpc_name);
        self
    }

    /// Exports the service's own metrics on its `/metrics`, beside the request metrics.
    pub fn with_metrics(self, registry: Registry) -> GrpcServer {
        if let Ok(mut extra) = self.metrics.extra.write() {
            extra.push(registry);
        }
        self
    }

    /// A task the service runs beside its routes; [`GrpcServer::serve`] waits for it after
    /// the routes have drained, so it must end on the same shutdown signal.
    pub fn with_background(mut self, task: tokio::task::JoinHandle<()>) -> GrpcServer {
        self.background.push(task);
        self
    }

    /// A client channel into this server's routes, in this process, with the same metrics and
    /// trace continuation as a network call. Calls run on the current Tokio runtime. It serves
    /// for as long as the channel lives; health reports follow [`GrpcServer::serve`].
    pub fn in_process(&self) -> TracedChannel {
        let observed = tower_layer::Layer::layer(
            &ObserveLayer {
                metrics: self.metrics.clone(),
            },
            self.routes.clone(),
        );
        let transport = BoxCloneSyncService::new(InProcess {
            service: observed,
            runtime: tokio::runtime::Handle::current(),
        });
        InterceptedService::new(transport, OutgoingInterceptor)
    }

    /// Serves on `listener` until `shutdown` resolves, then drains in-flight requests and
    /// waits for the background tasks.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let health = self.health;
        for name in &self.grpc_names {
            health.set_service_status(*name, ServingStatus::Serving).await;
        }
        health.set_service_status("", ServingStatus::Serving).await;

        let addr = listener.local_addr().ok();
        tracing::info!(service = self.service_name, addr = ?addr, "grpc server listening");
        let grpc_names = self.grpc_names;
        let shutdown = async move {
            shutdown.await;
            for name in grpc_names {
                health.set_service_status(name, ServingStatus::NotServing).await;
            }
            health.set_service_status("", ServingStatus::NotServing).await;
        };
        let result = tonic::transport::Server::builder()
            .accept_http1(true)
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            .layer(ObserveLayer {
                metrics: self.metrics,
            })
            .add_routes(self.routes)
            // Small replies must not wait for Nagle's algorithm and the peer's delayed ACK (~40 ms).
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await;
        for task in self.background {
            let _ = task.await;
        }
        tracing::info!(service = self.service_name, "grpc server stopped");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct call runs its handler on the caller's task and counts in the server's metrics
    /// under the method's path and code, as a call through the routes does.
    #[test]
    fn direct_calls_run_on_the_callers_task_and_are_counted() {
        let auth = crate::config::AuthSettings {
            jwt_secret: Some(crate::config::Secret::new("a-test-secret-of-at-least-32-bytes")),
            ..Default::default()
        };
        let verifier =
            Arc::new(Verifier::from_settings(&auth, std::path::Path::new("/nonexistent")).unwrap());
        let server = GrpcServer::new("test", "test.v1.Test", Routes::default(), verifier).with_direct_method(
            "test.v1.Test",
            "Half",
            |n: u32| async move {
                if n.is_multiple_of(2) {
                    Ok(n / 2)
                } else {
                    Err(tonic::Status::invalid_argument(format!("{n} is odd")))
                }
            },
        );
        assert!(server.direct::<u32, String>("test.v1.Test", "Half").is_none());
        assert!(server.direct::<u32, u32>("test.v1.Test", "Other").is_none());
        let half = server.direct::<u32, u32>("test.v1.Test", "Half").unwrap();
        // The caller's runtime, with neither timers nor I/O, is the only one there is.
        let caller = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(caller.block_on(half.call(8)).unwrap(), 4);
        let odd = caller.block_on(half.call(3)).unwrap_err();
        assert_eq!(
            (odd.code(), odd.message()),
            (tonic::Code::InvalidArgument, "3 is odd")
        );
        let metrics = server.metrics.render();
        for line in [
            r#"lathe_grpc_server_requests_total{code="0",method="/test.v1.Test/Half",service="test"} 1"#,
            r#"lathe_grpc_server_requests_total{code="3",method="/test.v1.Test/Half",service="test"} 1"#,
            r#"lathe_grpc_server_request_duration_seconds_count{method="/test.v1.Test/Half",service="test"} 2"#,
        ] {
            assert!(metrics.contains(line), "{line} not in\n{metrics}");
        }
    }
}
