//! Every service exposes Prometheus metrics, gRPC health and reflection.

use lathe_contract::registry::v1::GetProjectRequest;
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;
use lathe_tests::TestPlatform;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn services_count_requests_and_latency() {
    let t = TestPlatform::embedded().await;
    t.create_project("churn").await;
    let mut registry = RegistryServiceClient::new(t.grpc_channel("registry", &t.admin()).await);
    registry
        .get_project(GetProjectRequest { name: "churn".into() })
        .await
        .unwrap();
    registry
        .get_project(GetProjectRequest { name: "ghost".into() })
        .await
        .unwrap_err();

    let metrics = t
        .http
        .get(format!("{}/metrics", t.grpc_endpoint("registry")))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    let line = |method: &str, code: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("lathe_grpc_server_requests_total")
                    && l.contains(&format!("method=\"{method}\""))
                    && l.contains(&format!("code=\"{code}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let get = "/lathe.registry.v1.RegistryService/GetProject";
    assert!(line(get, "0").is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(line(get, "5"), Some(1.0), "one NOT_FOUND: {text}");
    assert!(
        text.contains("lathe_grpc_server_request_duration_seconds_bucket"),
        "{text}"
    );

    // The gateway counts by route pattern, not by raw path.
    let gateway = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        gateway.lines().any(|l| l.starts_with("lathe_http_requests_total")
            && l.contains("route=\"/api/v1/projects\"")
            && l.contains("status=\"201\"")),
        "{gateway}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn every_service_answers_reflection() {
    let t = TestPlatform::embedded().await;
    for (section, service) in [
        ("registry", "lathe.registry.v1.RegistryService"),
        ("features", "lathe.features.v1.FeatureService"),
        ("orchestrator", "lathe.orchestrator.v1.OrchestratorService"),
        ("monitor", "lathe.monitor.v1.MonitorService"),
    ] {
        let channel = tonic::transport::Endpoint::from_shared(t.grpc_endpoint(section))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses.message().await.unwrap().expect("one response");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("{section}: unexpected reflection answer");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.iter().any(|n| n == service), "{section}: {names:?}");
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{section}: {names:?}"
        );
    }
    t.shutdown().await;
}
