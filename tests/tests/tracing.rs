//! One request keeps one trace: HTTP → gateway → gRPC → feature-service → gRPC →
//! registry-service, asserted on the spans the OpenTelemetry SDK exports.

use std::time::Duration;

use lathe_common::config::TelemetrySettings;
use lathe_tests::TestPlatform;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;

const APPLY_ENTITY: &str = "/lathe.features.v1.FeatureService/ApplyEntity";
const GET_PROJECT: &str = "/lathe.registry.v1.RegistryService/GetProject";

/// Waits (bounded) until spans named `names` have been exported under `trace_id` (any trace when `None`).
async fn spans_of(
    exporter: &InMemorySpanExporter,
    names: &[&str],
    trace_id: Option<TraceId>,
) -> Vec<SpanData> {
    for _ in 0..100 {
        let spans = exporter.get_finished_spans().unwrap();
        let found: Vec<SpanData> = names
            .iter()
            .filter_map(|name| {
                spans
                    .iter()
                    .rev()
                    .find(|s| s.name == *name && trace_id.is_none_or(|t| s.span_context.trace_id() == t))
                    .cloned()
            })
            .collect();
        if found.len() == names.len() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen: Vec<(String, TraceId)> = exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|s| (s.name.to_string(), s.span_context.trace_id()))
        .collect();
    panic!("spans {names:?} (trace {trace_id:?}) were not exported; saw {seen:?}");
}

#[tokio::test]
async fn a_request_through_two_services_is_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    lathe_common::telemetry::install(
        "lathe-tests",
        &TelemetrySettings {
            log_filter: "warn".into(),
            ..Default::default()
        },
        provider,
    )
    .unwrap();
    let t = TestPlatform::embedded().await;
    t.create_project("churn").await;
    let entity = json!({"join_keys": [{"name": "driver_id", "value_type": "int64"}]});

    // The caller's W3C trace context is continued through every hop.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = t
        .put("/api/v1/projects/churn/entities/driver", &t.admin(), &entity)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let expected = TraceId::from_hex(trace_id).unwrap();
    let spans = spans_of(&exporter, &[APPLY_ENTITY, GET_PROJECT], Some(expected)).await;
    let (apply, get_project) = (&spans[0], &spans[1]);
    assert_eq!(apply.span_kind, SpanKind::Server);
    // The registry's span is a descendant of the feature-service's request, not a sibling.
    assert_ne!(get_project.parent_span_id, apply.parent_span_id);
    let gateway = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| {
            s.span_context.trace_id() == expected
                && s.span_kind == SpanKind::Server
                && s.name.starts_with("PUT")
        })
        .expect("the gateway's HTTP span is in the same trace");
    assert_eq!(format!("{:x}", gateway.parent_span_id), "f067aa0ba902b7");

    // Without an incoming context the gateway starts the trace, and the services join it.
    exporter.reset();
    let response = t
        .put("/api/v1/projects/churn/entities/rider", &t.admin(), &entity)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = spans_of(&exporter, &[APPLY_ENTITY, GET_PROJECT], None).await;
    assert_eq!(spans[0].span_context.trace_id(), spans[1].span_context.trace_id());
    assert_ne!(spans[0].span_context.trace_id(), expected);
    t.shutdown().await;
}
