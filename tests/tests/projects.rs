//! Deleting a project, on SQLite + local files and on PostgreSQL + S3 + Redis: a project that
//! holds anything is only deleted with `?cascade=true`, which removes what it held in every
//! service (rows, artifact and model objects, online rows); afterwards every call in it is
//! `project_not_found`, and re-creating the name gives an empty project.

use std::time::Duration;

use lathe_contract::monitor::v1 as monitor;
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::orchestrator::v1 as orchestrator;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use lathe_contract::registry::v1 as registry;
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;
use lathe_tests::{Backend, TestPlatform, error_of, objects_under};
use serde_json::{Value, json};

const PROJECT: &str = "orph";

/// sha256 of `b"weights"`.
const WEIGHTS_SHA256: &str = "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c";

const REPO: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: trips_batch
    file: {path: data/trips}
  - name: trips_push
    push: {batch_source: trips_batch}
feature_views:
  - name: trips_live
    entities: [driver]
    source: trips_push
    schema: [{name: trips_today, type: int64}]
"#;

fn api(project: &str, path: &str) -> String {
    format!("/api/v1/projects/{project}{path}")
}

async fn expect_json(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn delete(t: &TestPlatform, path: &str) -> reqwest::RequestBuilder {
    t.http.delete(format!("{}{path}", t.url)).bearer_auth(t.admin())
}

/// Asserts the request fails with `status` and `code`.
async fn expect_error(request: reqwest::RequestBuilder, status: u16, code: &str) -> String {
    let (actual, actual_code, message) = error_of(request.send().await.expect("request")).await;
    assert_eq!((actual, actual_code.as_str()), (status, code), "{message}");
    message
}

struct Clients {
    registry: RegistryServiceClient<lathe_tests::GrpcChannel>,
    orchestrator: OrchestratorServiceClient<lathe_tests::GrpcChannel>,
    monitor: MonitorServiceClient<lathe_tests::GrpcChannel>,
}

async fn clients(t: &TestPlatform) -> Clients {
    Clients {
        registry: RegistryServiceClient::new(t.grpc_channel("registry", &t.admin()).await),
        orchestrator: OrchestratorServiceClient::new(t.grpc_channel("orchestrator", &t.admin()).await),
        monitor: MonitorServiceClient::new(t.grpc_channel("monitor", &t.admin()).await),
    }
}

fn reason(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get(lathe_common::error::REASON_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn online_read() -> Value {
    json!({ "features": ["trips_live:trips_today"], "entities": { "driver_id": [4] } })
}

/// Fills the project with one of everything: an experiment with a run, its metric and
/// artifact, a model with a version, feature definitions with an online row, a pipeline and
/// a monitor. Returns (experiment id, run id).
async fn fill(t: &TestPlatform, c: &mut Clients) -> (String, String) {
    let admin = t.admin();
    let experiment = expect_json(
        t.post(&api(PROJECT, "/experiments"), &admin, &json!({ "name": "xgb" })),
        201,
    )
    .await;
    let experiment_id = experiment["experiment_id"].as_str().unwrap().to_owned();
    let run = expect_json(
        t.post(
            &api(PROJECT, "/runs"),
            &admin,
            &json!({ "experiment_id": experiment_id }),
        ),
        201,
    )
    .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let logged = t
        .post(
            &api(PROJECT, &format!("/runs/{run_id}/log-batch")),
            &admin,
            &json!({ "metrics": [{ "key": "accuracy", "value": 0.9 }] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), 204);
    let uploaded = t
        .http
        .put(format!(
            "{}{}",
            t.url,
            api(PROJECT, &format!("/runs/{run_id}/artifacts/model/model.bin"))
        ))
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .header("x-lathe-sha256", WEIGHTS_SHA256)
        .body(b"weights".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    expect_json(
        t.post(&api(PROJECT, "/models"), &admin, &json!({ "name": "churn" })),
        201,
    )
    .await;
    expect_json(
        t.post(
            &api(PROJECT, "/models/churn/versions"),
            &admin,
            &json!({ "run_id": run_id, "artifact_path": "model", "lineage": { "feature_views": ["trips_live"] } }),
        ),
        201,
    )
    .await;

    expect_json(
        t.post(
            &api(PROJECT, "/features/apply"),
            &admin,
            &json!({ "files": [{ "path": "repo.yaml", "content": REPO }] }),
        ),
        200,
    )
    .await;
    let now = chrono::Utc::now().timestamp_micros() - 60_000_000;
    let now = chrono::DateTime::from_timestamp_micros(now).unwrap().to_rfc3339();
    let pushed = expect_json(
        t.post(
            &api(PROJECT, "/features/push"),
            &admin,
            &json!({
                "push_source_name": "trips_push",
                "df": { "driver_id": [4], "event_timestamp": [now], "trips_today": [7] },
                "to": "online",
            }),
        ),
        200,
    )
    .await;
    assert_eq!(pushed["rows"], 1, "{pushed}");
    let online = expect_json(
        t.post(&api(PROJECT, "/features/online"), &admin, &online_read()),
        200,
    )
    .await;
    assert_eq!(online["results"][1]["values"], json!([7]), "{online}");

    c.orchestrator
        .apply_pipelines(orchestrator::ApplyPipelinesRequest {
            project: PROJECT.into(),
            files: vec![orchestrator::PipelineFile {
                path: "retrain.yaml".into(),
                content: "{name: retrain, tasks: [{id: train, kind: command, argv: [train]}]}".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    c.monitor
        .put_monitor(monitor::PutMonitorRequest {
            project: PROJECT.into(),
            name: "trips".into(),
            checks: vec![monitor::FeatureCheck {
                column: "trips_live:trips_today".into(),
                metric: monitor::DriftMetric::Psi as i32,
                threshold: 0.2,
            }],
            window_seconds: 3600,
            ..Default::default()
        })
        .await
        .unwrap();
    (experiment_id, run_id)
}

/// Every read, list and write in `project` answers 404 `project_not_found`.
async fn everything_is_project_not_found(
    t: &TestPlatform,
    c: &mut Clients,
    project: &str,
    experiment_id: &str,
    run_id: &str,
) {
    let admin = t.admin();
    let get = |path: &str| t.get(&api(project, path), &admin);
    for path in [
        format!("/experiments/{experiment_id}"),
        "/experiments".to_owned(),
        format!("/runs/{run_id}"),
        format!("/runs/{run_id}/artifacts"),
        format!("/runs/{run_id}/artifacts/model/model.bin"),
        format!("/runs/{run_id}/metrics/accuracy/history"),
        "/models".to_owned(),
        "/models/churn".to_owned(),
        "/models/churn/versions".to_owned(),
        "/models/churn/versions/1".to_owned(),
        "/models/churn/aliases/champion".to_owned(),
        "/models/churn/audit".to_owned(),
        "/lineage?feature_view=trips_live".to_owned(),
        "/features/definitions".to_owned(),
        "/features/definitions/feature_view/trips_live".to_owned(),
        "/entities".to_owned(),
        "/entities/driver".to_owned(),
    ] {
        let (status, code, message) = error_of(get(&path).send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (404, "project_not_found"),
            "GET {path}: {message}"
        );
    }
    let posts = [
        ("/runs/search", json!({})),
        ("/experiments", json!({ "name": "again" })),
        ("/runs", json!({ "experiment_id": experiment_id })),
        ("/models", json!({ "name": "again" })),
        (
            "/models/churn/versions",
            json!({ "run_id": run_id, "artifact_path": "model" }),
        ),
        (
            "/features/apply",
            json!({ "files": [{ "path": "repo.yaml", "content": REPO }] }),
        ),
    ];
    for (path, body) in posts {
        let (status, code, message) =
            error_of(t.post(&api(project, path), &admin, &body).send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (404, "project_not_found"),
            "POST {path}: {message}"
        );
    }
    let pipeline = c
        .orchestrator
        .get_pipeline(orchestrator::PipelineRef {
            project: project.into(),
            name: "retrain".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&pipeline), "project_not_found", "{pipeline:?}");
    let pipelines = c
        .orchestrator
        .list_pipelines(orchestrator::ListPipelinesRequest {
            project: project.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&pipelines), "project_not_found", "{pipelines:?}");
    let monitors = c
        .monitor
        .list_monitors(monitor::ListMonitorsRequest {
            project: project.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&monitors), "project_not_found", "{monitors:?}");
    let put = c
        .monitor
        .get_monitor(monitor::GetMonitorRequest {
            project: project.into(),
            name: "trips".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&put), "project_not_found", "{put:?}");
}

async fn scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    let mut c = clients(&t).await;
    t.create_project(PROJECT).await;
    let (experiment_id, run_id) = fill(&t, &mut c).await;
    let store = t.registry_objects();
    assert!(
        !objects_under(store.as_ref(), &format!("experiments/{experiment_id}"))
            .await
            .is_empty()
    );
    assert!(!objects_under(store.as_ref(), "models").await.is_empty());

    // Refused while it holds anything, saying what, in every service.
    let message = expect_error(
        delete(&t, &format!("/api/v1/projects/{PROJECT}")),
        409,
        "project_not_empty",
    )
    .await;
    for held in [
        "1 experiments",
        "1 runs",
        "1 models",
        "4 feature definitions",
        "1 pipelines",
        "1 monitors",
        "?cascade=true",
    ] {
        assert!(message.contains(held), "'{held}' missing from: {message}");
    }
    expect_json(t.get(&api(PROJECT, &format!("/runs/{run_id}")), &t.admin()), 200).await;
    expect_json(t.get(&format!("/api/v1/projects/{PROJECT}"), &t.admin()), 200).await;

    // The cascade removes it all.
    let response = delete(&t, &format!("/api/v1/projects/{PROJECT}?cascade=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    expect_error(
        t.get(&format!("/api/v1/projects/{PROJECT}"), &t.admin()),
        404,
        "project_not_found",
    )
    .await;
    everything_is_project_not_found(&t, &mut c, PROJECT, &experiment_id, &run_id).await;
    let mut left = Vec::new();
    for _ in 0..200 {
        left = objects_under(store.as_ref(), "experiments").await;
        left.extend(objects_under(store.as_ref(), "models").await);
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(left.is_empty(), "objects of the deleted project remain: {left:?}");
    // A second delete finds nothing.
    expect_error(
        delete(&t, &format!("/api/v1/projects/{PROJECT}?cascade=true")),
        404,
        "project_not_found",
    )
    .await;

    // The name again: an empty project, nothing of the old one comes back.
    t.create_project(PROJECT).await;
    let admin = t.admin();
    let experiments = expect_json(t.get(&api(PROJECT, "/experiments"), &admin), 200).await;
    assert_eq!(experiments["experiments"], json!([]), "{experiments}");
    let models = expect_json(t.get(&api(PROJECT, "/models"), &admin), 200).await;
    assert_eq!(models["models"], json!([]), "{models}");
    let runs = expect_json(t.post(&api(PROJECT, "/runs/search"), &admin, &json!({})), 200).await;
    assert_eq!(runs["runs"], json!([]), "{runs}");
    let definitions = expect_json(t.get(&api(PROJECT, "/features/definitions"), &admin), 200).await;
    assert_eq!(definitions["definitions"], json!([]), "{definitions}");
    let pipelines = c
        .orchestrator
        .list_pipelines(orchestrator::ListPipelinesRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pipelines.pipelines.is_empty(), "{pipelines:?}");
    let monitors = c
        .monitor
        .list_monitors(monitor::ListMonitorsRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(monitors.monitors.is_empty(), "{monitors:?}");
    // The same view defined again has no online rows from before.
    expect_json(
        t.post(
            &api(PROJECT, "/features/apply"),
            &admin,
            &json!({ "files": [{ "path": "repo.yaml", "content": REPO }] }),
        ),
        200,
    )
    .await;
    let online = expect_json(
        t.post(&api(PROJECT, "/features/online"), &admin, &online_read()),
        200,
    )
    .await;
    assert_eq!(online["results"][1]["statuses"], json!(["NOT_FOUND"]), "{online}");

    // An empty project is deleted without cascade.
    let emptied = expect_json(
        t.post(
            &api(PROJECT, "/features/apply"),
            &admin,
            &json!({ "files": [{ "path": "repo.yaml", "content": "entities: []\n" }] }),
        ),
        200,
    )
    .await;
    assert_eq!(emptied["applied"], true, "{emptied}");
    let response = delete(&t, &format!("/api/v1/projects/{PROJECT}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());

    interrupted_cascade(&t, &mut c).await;
    never_created(&t).await;
    t.shutdown().await;
    drop(pg);
}

/// A cascade that stopped after the registry's part (the gateway died, a service was down)
/// leaves the name reserved: the registry refuses to create it again, and creating it through
/// the gateway first finishes the purge, so the old pipeline does not come back.
async fn interrupted_cascade(t: &TestPlatform, c: &mut Clients) {
    const NAME: &str = "half-gone";
    t.create_project(NAME).await;
    c.orchestrator
        .apply_pipelines(orchestrator::ApplyPipelinesRequest {
            project: NAME.into(),
            files: vec![orchestrator::PipelineFile {
                path: "retrain.yaml".into(),
                content: "{name: retrain, tasks: [{id: train, kind: command, argv: [train]}]}".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = c
        .registry
        .project_data(registry::ProjectDataRequest {
            project: NAME.into(),
            delete: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        deleted.pending_services,
        ["features", "orchestrator", "monitor", "serving"]
    );
    let refused = c
        .registry
        .create_project(registry::CreateProjectRequest {
            name: NAME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "project_being_deleted", "{refused:?}");
    assert!(refused.message().contains("orchestrator"), "{refused:?}");

    t.create_project(NAME).await;
    let pipelines = c
        .orchestrator
        .list_pipelines(orchestrator::ListPipelinesRequest {
            project: NAME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pipelines.pipelines.is_empty(), "{pipelines:?}");
}

/// Nothing can be created in, or read from, a project that never existed.
async fn never_created(t: &TestPlatform) {
    let admin = t.admin();
    for (path, body) in [
        ("/experiments", json!({ "name": "xgb" })),
        ("/models", json!({ "name": "churn" })),
        (
            "/features/online",
            json!({ "feature_service": "fs", "entities": { "driver_id": [1] } }),
        ),
        (
            "/features/push",
            json!({ "push_source_name": "trips_push", "df": { "driver_id": [1] } }),
        ),
        (
            "/features/materialize",
            json!({ "start": "2025-12-31T00:00:00Z", "end": "2026-01-01T00:00:00Z" }),
        ),
    ] {
        expect_error(
            t.post(&api("ghost", path), &admin, &body),
            404,
            "project_not_found",
        )
        .await;
    }
    for path in [
        "/experiments",
        "/experiments/1",
        "/models",
        "/models/churn",
        "/runs/abc",
    ] {
        expect_error(t.get(&api("ghost", path), &admin), 404, "project_not_found").await;
    }
}

#[tokio::test]
async fn project_deletion_on_sqlite_and_local_files() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn project_deletion_on_postgres_s3_and_redis() {
    scenario(Backend::Production).await;
}
