//! Liveness, readiness and metrics: unauthenticated, for orchestrators and scrapers.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use utoipa::ToSchema;

use crate::backends::Backends;
use crate::metrics::HttpMetrics;
use crate::settings::GatewaySettings;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` for liveness; `ready` or `not_ready` for readiness.
    pub status: String,
    /// Each backend's gRPC health: `serving`, `not_serving` or the reason it could not answer.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, String>,
}

/// Liveness: the gateway process is up.
#[utoipa::path(tag = "system", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
        services: BTreeMap::new(),
    })
}

/// Readiness: every backend service answers its gRPC health check with SERVING.
#[utoipa::path(tag = "system", responses((status = 200, body = Health), (status = 503, body = Health)))]
#[get("/readyz")]
pub async fn readyz(backends: web::Data<Backends>, settings: web::Data<GatewaySettings>) -> HttpResponse {
    let timeout = Duration::from_millis(settings.readiness_timeout_ms);
    let checks = backends.all.iter().map(|backend| {
        let mut health = backend.health.clone();
        let request = HealthCheckRequest {
            service: backend.grpc_service.to_owned(),
        };
        async move {
            let status = match tokio::time::timeout(timeout, health.check(request)).await {
                Ok(Ok(response)) => match ServingStatus::try_from(response.into_inner().status) {
                    Ok(ServingStatus::Serving) => "serving".to_owned(),
                    Ok(other) => other.as_str_name().to_lowercase(),
                    Err(_) => "unknown".to_owned(),
                },
                Ok(Err(status)) => format!("unavailable: {}", status.message()),
                Err(_) => format!("unavailable: no answer within {} ms", timeout.as_millis()),
            };
            (backend.name.to_owned(), status)
        }
    });
    let services: BTreeMap<String, String> = futures::future::join_all(checks).await.into_iter().collect();
    let ready = services.values().all(|s| s == "serving");
    let body = Health {
        status: if ready { "ready" } else { "not_ready" }.to_owned(),
        services,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics of the gateway.
#[utoipa::path(tag = "system", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<HttpMetrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
