//! Both metadata backends migrate and round-trip for every service; a restart loses nothing;
//! objects round-trip through file:// and the real S3-compatible server.

use std::collections::HashMap;

use futures::TryStreamExt;
use lathe_common::config::ObjectStoreSettings;
use lathe_common::service::GrpcService;
use lathe_common::storage;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::features::v1::{ApplyEntityRequest, GetEntityRequest, JoinKey, ValueType};
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::monitor::v1::{DriftMetric, FeatureCheck, GetMonitorRequest, PutMonitorRequest};
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use lathe_contract::orchestrator::v1::{
    ApplyPipelinesRequest, ListPipelinesRequest, PipelineFile, PipelineRef,
};
use lathe_contract::registry::v1::registry_service_client::RegistryServiceClient;
use lathe_contract::registry::v1::{CreateProjectRequest, GetProjectRequest, ListProjectsRequest};
use lathe_registry_service::Registry;
use lathe_tests::{Backend, TestPlatform};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

const PIPELINE: &str = "
name: retrain-churn
schedule: {cron: '0 3 * * *', timezone: Europe/Paris}
tasks:
  - {id: train, kind: command, argv: [python, train.py], retries: 2, timeout: 10m}
  - {id: evaluate, kind: command, argv: [python, evaluate.py], depends_on: [train]}
  - {id: register, kind: command, argv: [python, register.py], depends_on: [evaluate]}
";

/// Writes through every service's gRPC API, reads back, restarts on the same stores, reads again.
async fn every_service_round_trips(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    let mut registry = RegistryServiceClient::new(t.grpc_channel("registry", &t.admin()).await);
    let mut features = FeatureServiceClient::new(t.grpc_channel("features", &t.admin()).await);
    let mut orchestrator = OrchestratorServiceClient::new(t.grpc_channel("orchestrator", &t.admin()).await);
    let mut monitor = MonitorServiceClient::new(t.grpc_channel("monitor", &t.admin()).await);

    let labels = HashMap::from([("team".to_owned(), "growth".to_owned())]);
    let created = registry
        .create_project(CreateProjectRequest {
            name: "churn".into(),
            description: "churn models".into(),
            labels: labels.clone(),
            created_by: "ana".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let join_keys = vec![JoinKey {
        name: "driver_id".into(),
        value_type: ValueType::Int64 as i32,
    }];
    let entity = ApplyEntityRequest {
        project: "churn".into(),
        name: "driver".into(),
        join_keys: join_keys.clone(),
        description: "a driver".into(),
    };
    let applied = features.apply_entity(entity.clone()).await.unwrap().into_inner();
    assert_eq!(applied.version, 1);
    // Applying the same definition again is a no-op; a real change bumps the version.
    assert_eq!(
        features
            .apply_entity(entity.clone())
            .await
            .unwrap()
            .into_inner()
            .version,
        1
    );
    let changed = ApplyEntityRequest {
        description: "a person who drives".into(),
        ..entity
    };
    assert_eq!(
        features.apply_entity(changed).await.unwrap().into_inner().version,
        2
    );

    orchestrator
        .apply_pipelines(ApplyPipelinesRequest {
            project: "churn".into(),
            files: vec![PipelineFile {
                path: "retrain.yaml".into(),
                content: PIPELINE.into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let checks = vec![FeatureCheck {
        column: "driver:conv_rate".into(),
        metric: DriftMetric::Psi as i32,
        threshold: 0.2,
    }];
    monitor
        .put_monitor(PutMonitorRequest {
            project: "churn".into(),
            name: "conv-rate".into(),
            description: String::new(),
            checks: checks.clone(),
            window_seconds: 3600,
            retrain_pipeline: "retrain-churn".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Restart everything on the same stores: migrations run again harmlessly, data is kept.
    let settings = t.settings.clone();
    let dir = t.shutdown().await;
    let t = TestPlatform::start(settings.on_ephemeral_ports(), dir).await;
    let mut registry = RegistryServiceClient::new(t.grpc_channel("registry", &t.admin()).await);
    let mut features = FeatureServiceClient::new(t.grpc_channel("features", &t.admin()).await);
    let mut orchestrator = OrchestratorServiceClient::new(t.grpc_channel("orchestrator", &t.admin()).await);
    let mut monitor = MonitorServiceClient::new(t.grpc_channel("monitor", &t.admin()).await);

    let project = registry
        .get_project(GetProjectRequest { name: "churn".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(project, created);
    assert_eq!(project.labels, labels);
    let listed = registry
        .list_projects(ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.projects.len(), 1);

    let entity = features
        .get_entity(GetEntityRequest {
            project: "churn".into(),
            name: "driver".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (entity.version, entity.join_keys, entity.description.as_str()),
        (2, join_keys, "a person who drives")
    );

    let pipeline = orchestrator
        .get_pipeline(PipelineRef {
            project: "churn".into(),
            name: "retrain-churn".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let tasks: Vec<(&str, &[String])> = pipeline
        .tasks
        .iter()
        .map(|t| (t.id.as_str(), t.depends_on.as_slice()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("train", &[][..]),
            ("evaluate", &["train".to_owned()][..]),
            ("register", &["evaluate".to_owned()][..])
        ]
    );
    assert_eq!(
        (
            pipeline.schedule.as_str(),
            pipeline.timezone.as_str(),
            pipeline.version
        ),
        ("0 3 * * *", "Europe/Paris", 1)
    );
    let pipelines = orchestrator
        .list_pipelines(ListPipelinesRequest {
            project: "churn".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pipelines.into_inner().pipelines.len(), 1);

    let stored = monitor
        .get_monitor(GetMonitorRequest {
            project: "churn".into(),
            name: "conv-rate".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stored.checks, stored.window_seconds), (checks, 3600));
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn every_service_round_trips_on_sqlite() {
    every_service_round_trips(Backend::Embedded).await;
}

#[tokio::test]
async fn every_service_round_trips_on_postgres() {
    every_service_round_trips(Backend::Production).await;
}

async fn objects_round_trip(store: &dyn ObjectStore) {
    let payload = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>();
    let path = Path::from("runs/r1/artifacts/model.bin");
    store.put(&path, PutPayload::from(payload.clone())).await.unwrap();
    store
        .put(
            &Path::from("runs/r1/artifacts/metrics.json"),
            PutPayload::from_static(b"{}"),
        )
        .await
        .unwrap();
    let read = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(read.as_ref(), payload.as_slice());
    let mut listed: Vec<String> = store
        .list(Some(&Path::from("runs/r1")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    assert_eq!(
        listed,
        ["runs/r1/artifacts/metrics.json", "runs/r1/artifacts/model.bin"]
    );
    store.delete(&path).await.unwrap();
    let err = store.get(&path).await.unwrap_err();
    assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn objects_round_trip_through_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = storage::resolve_url(&ObjectStoreSettings::default(), dir.path(), "registry").unwrap();
    assert!(url.starts_with("file://"));
    let store = storage::open(&url, &ObjectStoreSettings::default(), "registry.object_store").unwrap();
    objects_round_trip(store.as_ref()).await;
    assert!(
        dir.path()
            .join("objects/registry/runs/r1/artifacts/metrics.json")
            .exists()
    );
}

#[tokio::test]
async fn objects_round_trip_through_the_s3_server() {
    let Some(location) = lathe_testkit::S3Location::fresh() else {
        return;
    };
    let store = storage::open(&location.url, &location.settings, "registry.object_store").unwrap();
    objects_round_trip(store.as_ref()).await;
}

#[tokio::test]
async fn a_service_on_s3_uses_the_bucket() {
    let Some(location) = lathe_testkit::S3Location::fresh() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = lathe_tests::embedded_settings(dir.path());
    settings.registry.object_store = location.settings.clone();
    // The same settings a deployment gives the registry reach the S3 server.
    let registry = Registry::build(&settings.registry, &settings.common)
        .await
        .unwrap();
    objects_round_trip(registry.stores().objects.as_ref()).await;
}

/// The staging file of an upload started on `store` under the local directory `objects` and
/// left as a killed process leaves it: a part written, never completed, aborted nor dropped.
async fn killed_upload(store: &dyn ObjectStore, objects: &std::path::Path, name: &str) -> std::path::PathBuf {
    let mut upload = store
        .put_multipart(&Path::from(format!("runs/r1/artifacts/{name}")))
        .await
        .unwrap();
    upload.put_part(PutPayload::from(vec![7u8; 4096])).await.unwrap();
    // No destructor runs in a killed process; dropping the upload would remove its file.
    std::mem::forget(upload);
    let dir = objects.join("runs/r1/artifacts");
    let staged: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}#")))
        })
        .collect();
    assert_eq!(
        staged.len(),
        1,
        "one staging file for {name} in {}",
        dir.display()
    );
    staged.into_iter().next().unwrap()
}

#[tokio::test]
async fn the_registry_removes_uploads_a_kill_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let settings = lathe_tests::embedded_settings(dir.path());
    let objects_settings = &settings.registry.object_store;
    let url = storage::resolve_url(objects_settings, dir.path(), "registry").unwrap();
    let store = storage::open(&url, objects_settings, "registry.object_store").unwrap();
    let objects = dir.path().join("objects/registry");
    let abandoned = killed_upload(store.as_ref(), &objects, "model.bin").await;
    let in_flight = killed_upload(store.as_ref(), &objects, "other-replica.bin").await;
    // Last written two hours ago: past the start-up grace of an hour.
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 60 * 60))
        .unwrap();

    let registry = Registry::build(&settings.registry, &settings.common)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(registry.serve(listener, async {
        let _ = stopped.await;
    }));
    for _ in 0..200 {
        if !abandoned.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!abandoned.exists(), "{} is still there", abandoned.display());
    assert!(
        in_flight.exists(),
        "a recently written upload ({}) is kept",
        in_flight.display()
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Processes that start together on a fresh PostgreSQL database (replicas, workers beside
/// their orchestrator) each migrate it: under the migration lock they take turns, and every
/// one starts. Without the lock, two of them creating the same table fail one on `pg_type`.
#[tokio::test]
async fn services_starting_together_on_a_fresh_database_all_migrate() {
    let Some(pg) = lathe_testkit::PgDatabase::create().await else {
        return;
    };
    let settings = lathe_common::config::DatabaseSettings {
        url: Some(pg.url.clone()),
        ..Default::default()
    };
    let starts = (0..6).map(|i| {
        let settings = settings.clone();
        let url = pg.url.clone();
        async move {
            let db = lathe_common::db::connect(&url, &settings, &format!("start {i}"))
                .await
                .unwrap();
            lathe_common::db::migrate::<lathe_registry_service::store::migration::Migrator>(&db).await
        }
    });
    for (i, outcome) in futures::future::join_all(starts).await.into_iter().enumerate() {
        assert!(outcome.is_ok(), "start {i} failed to migrate: {outcome:?}");
    }
}
