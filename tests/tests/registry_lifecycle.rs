//! The registry's lifecycle changes that MLflow's client needs, over gRPC, on SQLite + local
//! files and on PostgreSQL + S3: runs soft-deleted and restored, run tags deleted, NaN and
//! infinite metric values, a model renamed, and one version deleted.

use std::collections::HashMap;
use std::time::Duration;

use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use lathe_contract::registry::v1::tracking_service_client::TrackingServiceClient;
use lathe_tests::{Backend, GrpcChannel, TestPlatform, TokenRole, objects_under};
use tonic::Code;

const PROJECT: &str = "lifecycle";

struct Clients {
    tracking: TrackingServiceClient<GrpcChannel>,
    models: ModelRegistryServiceClient<GrpcChannel>,
    admin_models: ModelRegistryServiceClient<GrpcChannel>,
}

fn run_ref(run_id: &str) -> pb::RunRef {
    pb::RunRef {
        project: PROJECT.into(),
        run_id: run_id.into(),
    }
}

fn batch(run_id: &str) -> pb::LogBatchRequest {
    pb::LogBatchRequest {
        project: PROJECT.into(),
        run_id: run_id.into(),
        ..Default::default()
    }
}

fn metric(key: &str, value: f64, step: i64) -> pb::Metric {
    pb::Metric {
        key: key.into(),
        value,
        step,
        timestamp_ms: 1_000 + step,
    }
}

fn tag(key: &str, value: &str) -> pb::Param {
    pb::Param {
        key: key.into(),
        value: value.into(),
    }
}

async fn new_run(c: &mut Clients, experiment_id: &str, name: &str) -> String {
    let request = pb::CreateRunRequest {
        project: PROJECT.into(),
        experiment_id: experiment_id.into(),
        name: name.into(),
        ..Default::default()
    };
    c.tracking.create_run(request).await.unwrap().into_inner().run_id
}

async fn search(
    c: &mut Clients,
    experiment_id: &str,
    filter: &str,
    order: &str,
    view: pb::ViewType,
) -> Vec<String> {
    let request = pb::SearchRunsRequest {
        project: PROJECT.into(),
        experiment_ids: vec![experiment_id.into()],
        filter: filter.into(),
        view: view.into(),
        order_by: if order.is_empty() {
            vec![]
        } else {
            vec![order.into()]
        },
        page_size: 100,
        page_token: String::new(),
    };
    let page = c.tracking.search_runs(request).await.unwrap().into_inner();
    page.runs.into_iter().map(|r| r.name).collect()
}

async fn soft_delete_and_restore(c: &mut Clients, exp: &str) {
    let run = new_run(c, exp, "doomed").await;
    new_run(c, exp, "kept").await;
    let archived = c.tracking.archive_run(run_ref(&run)).await.unwrap().into_inner();
    assert_eq!(archived.lifecycle_stage(), pb::LifecycleStage::Deleted);
    // Deleting again changes nothing; the run stays readable.
    c.tracking.archive_run(run_ref(&run)).await.unwrap();
    let read = c.tracking.get_run(run_ref(&run)).await.unwrap().into_inner();
    assert_eq!(read.lifecycle_stage(), pb::LifecycleStage::Deleted);
    assert_eq!(search(c, exp, "", "", pb::ViewType::ActiveOnly).await, ["kept"]);
    assert_eq!(
        search(c, exp, "", "", pb::ViewType::DeletedOnly).await,
        ["doomed"]
    );
    let mut write = batch(&run);
    write.metrics.push(metric("acc", 0.5, 0));
    let refused = c.tracking.log_batch(write.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("restore it"), "{}", refused.message());

    let restored = c.tracking.restore_run(run_ref(&run)).await.unwrap().into_inner();
    assert_eq!(restored.lifecycle_stage(), pb::LifecycleStage::Active);
    c.tracking.log_batch(write).await.unwrap();

    // A run of a deleted experiment comes back only with its experiment.
    let experiment = pb::ExperimentRef {
        project: PROJECT.into(),
        experiment_id: exp.into(),
    };
    c.tracking.delete_experiment(experiment.clone()).await.unwrap();
    let refused = c.tracking.restore_run(run_ref(&run)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("restore the experiment"),
        "{}",
        refused.message()
    );
    c.tracking.restore_experiment(experiment).await.unwrap();
    let read = c.tracking.get_run(run_ref(&run)).await.unwrap().into_inner();
    assert_eq!(read.lifecycle_stage(), pb::LifecycleStage::Active);
}

async fn tags_are_deleted_atomically(c: &mut Clients, exp: &str) {
    let run = new_run(c, exp, "tagged").await;
    let mut set = batch(&run);
    set.tags = vec![tag("team", "growth"), tag("scratch", "yes")];
    c.tracking.log_batch(set).await.unwrap();

    // A missing tag fails the whole batch: the metric and the other delete are not applied.
    let mut mixed = batch(&run);
    mixed.metrics.push(metric("acc", 0.9, 0));
    mixed.delete_tags = vec!["scratch".into(), "never-set".into()];
    let refused = c.tracking.log_batch(mixed).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    assert!(refused.message().contains("never-set"), "{}", refused.message());
    let read = c.tracking.get_run(run_ref(&run)).await.unwrap().into_inner();
    assert!(read.tags.contains_key("scratch"));
    assert!(read.latest_metrics.is_empty());

    let mut delete = batch(&run);
    delete.delete_tags = vec!["scratch".into()];
    c.tracking.log_batch(delete).await.unwrap();
    let read = c.tracking.get_run(run_ref(&run)).await.unwrap().into_inner();
    assert_eq!(
        read.tags,
        HashMap::from([("team".to_owned(), "growth".to_owned())])
    );
}

/// NaN and the infinities are stored and read back as logged; a NaN satisfies no comparison
/// and sorts last; a version's metrics snapshot keeps only finite values.
async fn non_finite_metrics(c: &mut Clients, exp: &str) -> String {
    let diverged = new_run(c, exp, "diverged").await;
    let mut log = batch(&diverged);
    log.metrics = vec![
        metric("loss", 0.7, 0),
        metric("loss", f64::INFINITY, 1),
        metric("loss", f64::NAN, 2),
        metric("floor", f64::NEG_INFINITY, 0),
        metric("acc", 0.4, 0),
    ];
    c.tracking.log_batch(log).await.unwrap();
    let history = c
        .tracking
        .get_metric_history(pb::GetMetricHistoryRequest {
            project: PROJECT.into(),
            run_id: diverged.clone(),
            key: "loss".into(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .metrics;
    let values: Vec<f64> = history.iter().map(|m| m.value).collect();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0], 0.7);
    assert_eq!(values[1], f64::INFINITY);
    assert!(values[2].is_nan(), "{values:?}");
    let read = c.tracking.get_run(run_ref(&diverged)).await.unwrap().into_inner();
    let latest: HashMap<String, f64> = read
        .latest_metrics
        .into_iter()
        .map(|m| (m.key, m.value))
        .collect();
    assert!(latest["loss"].is_nan(), "{latest:?}");
    assert_eq!(latest["floor"], f64::NEG_INFINITY);

    let healthy = new_run(c, exp, "healthy").await;
    let mut log = batch(&healthy);
    log.metrics = vec![metric("loss", 0.2, 2), metric("floor", -1.0, 0)];
    c.tracking.log_batch(log).await.unwrap();

    let active = pb::ViewType::ActiveOnly;
    // The NaN run's stored 0 must not pass for a value.
    assert_eq!(search(c, exp, "metrics.loss < 1", "", active).await, ["healthy"]);
    assert_eq!(search(c, exp, "metrics.loss >= 0", "", active).await, ["healthy"]);
    assert_eq!(
        search(c, exp, "metrics.floor < -1000", "", active).await,
        ["diverged"]
    );
    // The NaN comes last whichever way the values are sorted.
    for order in ["metrics.loss ASC", "metrics.loss DESC"] {
        let names = search(c, exp, "", order, active).await;
        assert_eq!(names, ["healthy", "diverged"], "{order}");
    }
    diverged
}

/// A version made from the diverged run: its snapshot holds the finite `acc` only.
async fn snapshot_skips_non_finite(c: &mut Clients, run: &str) {
    let header = pb::UploadArtifactHeader {
        project: PROJECT.into(),
        run_id: run.into(),
        path: "model/weights.bin".into(),
        expected_sha256: String::new(),
    };
    let parts = [
        pb::upload_artifact_request::Part::Header(header),
        pb::upload_artifact_request::Part::Chunk(bytes::Bytes::from_static(b"weights")),
        pb::upload_artifact_request::Part::Commit(pb::UploadArtifactCommit { size: 7 }),
    ];
    let messages = parts.map(|part| pb::UploadArtifactRequest { part: Some(part) });
    c.tracking
        .upload_artifact(futures::stream::iter(messages))
        .await
        .unwrap();
    let version = c
        .models
        .create_model_version(pb::CreateModelVersionRequest {
            project: PROJECT.into(),
            model: "diverged-model".into(),
            run_id: run.into(),
            artifact_path: "model".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.metrics, HashMap::from([("acc".to_owned(), 0.4)]));
}

fn model_ref(name: &str) -> pb::ModelRef {
    pb::ModelRef {
        project: PROJECT.into(),
        name: name.into(),
    }
}

fn version_ref(model: &str, version: u64) -> pb::ModelVersionRef {
    pb::ModelVersionRef {
        project: PROJECT.into(),
        model: model.into(),
        version,
    }
}

async fn audit_actions(c: &mut Clients, model: &str) -> Vec<(String, u64, String, String)> {
    let request = pb::ListAuditEventsRequest {
        project: PROJECT.into(),
        model: model.into(),
        page_size: 100,
        page_token: String::new(),
    };
    let events = c
        .models
        .list_audit_events(request)
        .await
        .unwrap()
        .into_inner()
        .events;
    events
        .into_iter()
        .map(|e| (e.action, e.version, e.from, e.to))
        .collect()
}

async fn rename_and_delete_versions(c: &mut Clients, t: &TestPlatform, run: &str) {
    let create = |name: &str| pb::CreateModelRequest {
        project: PROJECT.into(),
        name: name.into(),
        ..Default::default()
    };
    c.models.create_model(create("taken")).await.unwrap();
    // diverged-model has version 1 (from the snapshot test); two more.
    for _ in 0..2 {
        let request = pb::CreateModelVersionRequest {
            project: PROJECT.into(),
            model: "diverged-model".into(),
            run_id: run.into(),
            artifact_path: "model".into(),
            ..Default::default()
        };
        c.models.create_model_version(request).await.unwrap();
    }
    let alias = pb::SetAliasRequest {
        project: PROJECT.into(),
        model: "diverged-model".into(),
        alias: "champion".into(),
        version: 1,
        ..Default::default()
    };
    c.models.set_alias(alias).await.unwrap();

    let rename = |new_name: &str| pb::RenameModelRequest {
        project: PROJECT.into(),
        name: "diverged-model".into(),
        new_name: new_name.into(),
        actor: None,
    };
    let taken = c.models.rename_model(rename("taken")).await.unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");
    let bad = c.models.rename_model(rename("")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let renamed = c.models.rename_model(rename("churn")).await.unwrap().into_inner();
    assert_eq!(renamed.name, "churn");
    assert_eq!(renamed.aliases, HashMap::from([("champion".to_owned(), 1)]));
    let gone = c.models.get_model(model_ref("diverged-model")).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let v3 = c
        .models
        .get_model_version(version_ref("churn", 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v3.model, "churn");

    // Deleting a version needs an admin; its alias goes with it, its number is not reused.
    let delete = pb::DeleteModelVersionRequest {
        project: PROJECT.into(),
        model: "churn".into(),
        version: 1,
        actor: None,
    };
    let v1 = c
        .models
        .get_model_version(version_ref("churn", 1))
        .await
        .unwrap()
        .into_inner();
    let denied = c.models.delete_model_version(delete.clone()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    c.admin_models.delete_model_version(delete.clone()).await.unwrap();
    let missing = c
        .models
        .get_model_version(version_ref("churn", 1))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let again = c.admin_models.delete_model_version(delete).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    let model = c.models.get_model(model_ref("churn")).await.unwrap().into_inner();
    assert!(model.aliases.is_empty(), "{:?}", model.aliases);
    let by_alias = pb::AliasRef {
        project: PROJECT.into(),
        model: "churn".into(),
        alias: "champion".into(),
    };
    assert_eq!(
        c.models.get_version_by_alias(by_alias).await.unwrap_err().code(),
        Code::NotFound
    );
    let next = pb::CreateModelVersionRequest {
        project: PROJECT.into(),
        model: "churn".into(),
        run_id: run.into(),
        artifact_path: "model".into(),
        ..Default::default()
    };
    let v4 = c.models.create_model_version(next).await.unwrap().into_inner();
    assert_eq!(v4.version, 4);

    let actions = audit_actions(c, "churn").await;
    assert!(
        actions.contains(&("model_renamed".into(), 0, "diverged-model".into(), "churn".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("version_deleted".into(), 1, "None".into(), String::new())),
        "{actions:?}"
    );

    // The deleted version's own copy of its files is removed in the background.
    let start = v1
        .artifact_uri
        .find("models/")
        .expect("a version's files are under models/");
    let prefix = v1.artifact_uri[start..].to_owned();
    let store = t.registry_objects();
    for _ in 0..100 {
        if objects_under(store.as_ref(), &prefix).await.is_empty() {
            let kept = v3.artifact_uri[v3.artifact_uri.find("models/").unwrap()..].to_owned();
            assert!(
                !objects_under(store.as_ref(), &kept).await.is_empty(),
                "version 3 keeps its files"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deleted version's files under {prefix} were not removed");
}

async fn scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let editor = t
        .grpc_channel("registry", &t.token_of("editor-user", TokenRole::Editor))
        .await;
    let admin = t
        .grpc_channel("registry", &t.token_of("admin-user", TokenRole::Admin))
        .await;
    let mut c = Clients {
        tracking: TrackingServiceClient::new(editor.clone()),
        models: ModelRegistryServiceClient::new(editor),
        admin_models: ModelRegistryServiceClient::new(admin),
    };
    let experiment = pb::CreateExperimentRequest {
        project: PROJECT.into(),
        name: "lifecycle".into(),
        tags: HashMap::new(),
    };
    let exp = c
        .tracking
        .create_experiment(experiment)
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    let metrics_exp = pb::CreateExperimentRequest {
        project: PROJECT.into(),
        name: "metrics".into(),
        tags: HashMap::new(),
    };
    let metrics_exp = c
        .tracking
        .create_experiment(metrics_exp)
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    soft_delete_and_restore(&mut c, &exp).await;
    tags_are_deleted_atomically(&mut c, &exp).await;
    let diverged = non_finite_metrics(&mut c, &metrics_exp).await;
    c.models
        .create_model(pb::CreateModelRequest {
            project: PROJECT.into(),
            name: "diverged-model".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    snapshot_skips_non_finite(&mut c, &diverged).await;
    rename_and_delete_versions(&mut c, &t, &diverged).await;
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn lifecycle_on_sqlite_and_local_files() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn lifecycle_on_postgres_and_s3() {
    scenario(Backend::Production).await;
}
