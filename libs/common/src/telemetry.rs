//! Logs through `tracing`, spans through OpenTelemetry, and W3C trace context carried across
//! HTTP and gRPC so one request keeps one trace id through the gateway and every service.
//!
//! The OpenTelemetry layer and its OTLP exporter are on only when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set. Without it no span goes anywhere, so none is built: recording spans with nowhere to
//! send them cost about a tenth of a small request's CPU. Set it on every process of a
//! deployment whose traces you want whole.

use std::io::IsTerminal;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// Flushes and stops span export when dropped or [`Telemetry::shutdown`] is called.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Exports what is buffered and stops the exporter; call after the servers have drained.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {err}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid setting `telemetry.log_filter`: {0}")]
    Filter(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// What the OpenTelemetry layer records (the log filter is `telemetry.log_filter`).
pub const SPAN_FILTER: &str = "info";

/// Installs the global subscriber for a process named `service_name`.
pub fn init(service_name: &'static str, settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name)
            .build(),
    );
    let exporting = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty());
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    install_layers(service_name, settings, exporting.then(|| provider.clone()))?;
    Ok(Telemetry { provider })
}

/// Installs the global subscriber over a given provider (tests pass one with an in-memory exporter).
pub fn install(
    service_name: &'static str,
    settings: &TelemetrySettings,
    provider: SdkTracerProvider,
) -> Result<(), TelemetryError> {
    install_layers(service_name, settings, Some(provider))
}

/// The log layer, and the OpenTelemetry layer when spans go to `provider`.
fn install_layers(
    service_name: &'static str,
    settings: &TelemetrySettings,
    provider: Option<SdkTracerProvider>,
) -> Result<(), TelemetryError> {
    let filter =
        EnvFilter::try_new(&settings.log_filter).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // Spans exported are those at info and above: unfiltered, every trace-level callsite of
    // h2, hyper, tonic and the database drivers would be live, which cost a quarter of the
    // CPU of a cheap request (online serving, measured with perf).
    let spans = provider.map(|provider| {
        let tracer = provider.tracer(service_name);
        opentelemetry::global::set_tracer_provider(provider);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new(SPAN_FILTER))
    });
    // The fmt layer writes to stdout.
    let ansi = use_colours(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let fmt_layer = match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_ansi(ansi).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().with_ansi(ansi).json().boxed(),
    };
    tracing_subscriber::registry()
        .with(spans)
        .with(fmt_layer.with_filter(filter))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)
}

/// Whether log lines carry ANSI colour codes: only when they go to a terminal, and not when
/// `NO_COLOR` is set to anything non-empty (<https://no-color.org>). Files, pipes and log
/// collectors get plain text.
fn use_colours(to_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    to_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Reads W3C trace context from HTTP headers.
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Makes the current span the parent of the remote call `request`.
pub fn inject_current_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
}

/// Makes the caller's span (from `traceparent`) the parent of `span`.
pub fn set_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only when the span is disabled, and then there is nothing to link.
    let _ = span.set_parent(parent);
}

/// A tonic interceptor that carries the current trace context to the callee.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current_context(request.metadata_mut());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colours_only_for_a_terminal_without_no_color() {
        assert!(use_colours(true, None));
        // Files and pipes get plain text.
        assert!(!use_colours(false, None));
        // NO_COLOR set to anything turns colours off; set but empty, it counts as unset.
        assert!(!use_colours(true, Some(OsStr::new("1"))));
        assert!(!use_colours(true, Some(OsStr::new("false"))));
        assert!(use_colours(true, Some(OsStr::new(""))));
        assert!(!use_colours(false, Some(OsStr::new(""))));
    }
}
