//! The services' gRPC ports are a public interface: every call carries a JWT the services
//! verify themselves, the actor is the token's and never the message's, and roles and project
//! scopes hold over gRPC as over REST.

use lathe_contract::features::v1::ListEntitiesRequest;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::monitor::v1::ListMonitorsRequest;
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::orchestrator::v1::ListPipelinesRequest;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;
use lathe_contract::registry::v1::tracking_service_client::TrackingServiceClient;
use lathe_tests::{Backend, TestPlatform, TokenRole};
use serde_json::json;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const PROJECT: &str = "sec";

/// A model with one version, registered through the REST API.
async fn model_with_version(t: &TestPlatform) {
    let admin = t.admin();
    let api = |path: &str| format!("/api/v1/projects/{PROJECT}{path}");
    let experiment: serde_json::Value = t
        .post_json(&api("/experiments"), &admin, &json!({ "name": "e" }))
        .await;
    let run: serde_json::Value = t
        .post_json(
            &api("/runs"),
            &admin,
            &json!({ "experiment_id": experiment["experiment_id"] }),
        )
        .await;
    let run_id = run["run_id"].as_str().expect("run_id");
    let uploaded = t
        .http
        .put(format!(
            "{}{}",
            t.url,
            api(&format!("/runs/{run_id}/artifacts/model/m.bin"))
        ))
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .body(b"w".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let model: serde_json::Value = t
        .post_json(&api("/models"), &admin, &json!({ "name": "m" }))
        .await;
    assert_eq!(model["name"], "m", "{model}");
    let version: serde_json::Value = t
        .post_json(
            &api("/models/m/versions"),
            &admin,
            &json!({ "run_id": run_id, "artifact_path": "model" }),
        )
        .await;
    assert_eq!(version["version"], 1, "{version}");
}

fn to_production(actor_subject: &str, actor_role: &str) -> pb::TransitionStageRequest {
    pb::TransitionStageRequest {
        project: PROJECT.into(),
        model: "m".into(),
        version: 1,
        stage: pb::Stage::Production as i32,
        reason: "forged".into(),
        actor: Some(pb::Actor {
            subject: actor_subject.into(),
            role: actor_role.into(),
        }),
        ..Default::default()
    }
}

async fn calls_without_a_valid_token_are_refused(backend: Backend) {
    let Some((t, _pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    model_with_version(&t).await;

    let plain = |service: &str| {
        tonic::transport::Endpoint::from_shared(t.grpc_endpoint(service))
            .unwrap()
            .connect_lazy()
    };
    // No credentials at all: every service's methods refuse, before doing anything.
    let mut models = ModelRegistryServiceClient::new(plain("registry"));
    let err = models
        .transition_stage(to_production("nobody", "admin"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = RegistryServiceClient::new(plain("registry"))
        .list_projects(pb::ListProjectsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = FeatureServiceClient::new(plain("features"))
        .list_entities(ListEntitiesRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = OrchestratorServiceClient::new(plain("orchestrator"))
        .list_pipelines(ListPipelinesRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = MonitorServiceClient::new(plain("monitor"))
        .list_monitors(ListMonitorsRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    // Health stays open, for load balancers and readiness probes.
    let health = HealthClient::new(plain("registry"))
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token");
    assert_eq!(health.into_inner().status, 1, "SERVING");

    // A token signed with another key, or expired, is refused too.
    let other = {
        let mut settings = t.settings.common.auth.clone();
        settings.jwt_secret = Some(lathe_common::config::Secret::new(
            "another-secret-0123456789abcdef-xyz",
        ));
        lathe_common::auth::Signer::from_settings(&settings, t.data_dir.path())
            .unwrap()
            .sign(
                "mallory",
                &[TokenRole::Admin],
                &["*".to_owned()],
                std::time::Duration::from_secs(60),
            )
            .unwrap()
    };
    let mut forged = ModelRegistryServiceClient::new(t.grpc_channel("registry", &other).await);
    let err = forged
        .transition_stage(to_production("nobody", "admin"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    // An editor claiming to be an admin in the message is still an editor: Production needs
    // an admin, and nothing moves.
    let mut as_editor = ModelRegistryServiceClient::new(
        t.grpc_channel("registry", &t.token_of("eve", TokenRole::Editor))
            .await,
    );
    let err = as_editor
        .transition_stage(to_production("nobody", "admin"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::PermissionDenied | Code::FailedPrecondition)
            && err.message().contains("admin"),
        "{err:?}"
    );
    let version = as_editor
        .get_model_version(pb::ModelVersionRef {
            project: PROJECT.into(),
            model: "m".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.stage, pb::Stage::None as i32);

    // A viewer may read but not write, over gRPC as over REST.
    let viewer = t
        .grpc_channel("registry", &t.token_of("vic", TokenRole::Viewer))
        .await;
    let err = ModelRegistryServiceClient::new(viewer.clone())
        .set_alias(pb::SetAliasRequest {
            project: PROJECT.into(),
            model: "m".into(),
            alias: "champion".into(),
            version: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = TrackingServiceClient::new(viewer)
        .create_experiment(pb::CreateExperimentRequest {
            project: PROJECT.into(),
            name: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // A token scoped to another project reaches nothing in this one.
    let elsewhere = t.token(TokenRole::Admin, &["other"]);
    let err = ModelRegistryServiceClient::new(t.grpc_channel("registry", &elsewhere).await)
        .get_model(pb::ModelRef {
            project: PROJECT.into(),
            name: "m".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // An admin's move is audited under the token's subject, whatever the message claims.
    let mut as_admin = ModelRegistryServiceClient::new(
        t.grpc_channel("registry", &t.token_of("ada", TokenRole::Admin))
            .await,
    );
    let moved = as_admin
        .transition_stage(to_production("nobody", "viewer"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.stage, pb::Stage::Production as i32);
    let audit = as_admin
        .list_audit_events(pb::ListAuditEventsRequest {
            project: PROJECT.into(),
            model: "m".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let actors: Vec<&str> = audit.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["ada"], "{audit:?}");
}

#[tokio::test]
async fn grpc_calls_need_a_valid_token_on_sqlite() {
    calls_without_a_valid_token_are_refused(Backend::Embedded).await;
}

#[tokio::test]
async fn grpc_calls_need_a_valid_token_on_postgres() {
    calls_without_a_valid_token_are_refused(Backend::Production).await;
}
