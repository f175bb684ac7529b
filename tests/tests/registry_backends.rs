//! The registry-service over gRPC, on SQLite + local files and on PostgreSQL + the real
//! S3-compatible server: tracking, search, streamed artifacts, versions, gates, aliases,
//! audit, lineage and deletion without orphans.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use lathe_contract::registry::v1::tracking_service_client::TrackingServiceClient;
use lathe_tests::{Backend, GrpcChannel, TestPlatform, TokenRole, objects_under};
use tonic::Code;

const PROJECT: &str = "churn";

/// Clients of an editor (`editor-user`), and the models client of an admin (`admin-user`).
struct Clients {
    tracking: TrackingServiceClient<GrpcChannel>,
    models: ModelRegistryServiceClient<GrpcChannel>,
    admin_models: ModelRegistryServiceClient<GrpcChannel>,
}

async fn clients(t: &TestPlatform) -> Clients {
    let editor = t
        .grpc_channel("registry", &t.token_of("editor-user", TokenRole::Editor))
        .await;
    let admin = t
        .grpc_channel("registry", &t.token_of("admin-user", TokenRole::Admin))
        .await;
    Clients {
        tracking: TrackingServiceClient::new(editor.clone()),
        models: ModelRegistryServiceClient::new(editor),
        admin_models: ModelRegistryServiceClient::new(admin),
    }
}

fn actor(role: &str) -> Option<pb::Actor> {
    Some(pb::Actor {
        subject: format!("{role}-user"),
        role: role.to_owned(),
    })
}

fn metric(key: &str, value: f64, step: i64, timestamp_ms: i64) -> pb::Metric {
    pb::Metric {
        key: key.to_owned(),
        value,
        step,
        timestamp_ms,
    }
}

fn param(key: &str, value: &str) -> pb::Param {
    pb::Param {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

async fn create_run(c: &mut Clients, experiment_id: &str, name: &str) -> String {
    let request = pb::CreateRunRequest {
        project: PROJECT.into(),
        experiment_id: experiment_id.into(),
        name: name.into(),
        user_id: "ana".into(),
        ..Default::default()
    };
    c.tracking.create_run(request).await.unwrap().into_inner().run_id
}

async fn log(
    c: &mut Clients,
    run_id: &str,
    metrics: Vec<pb::Metric>,
    params: Vec<pb::Param>,
) -> Result<(), tonic::Status> {
    let request = pb::LogBatchRequest {
        project: PROJECT.into(),
        run_id: run_id.into(),
        metrics,
        params,
        tags: vec![],
        delete_tags: vec![],
    };
    c.tracking.log_batch(request).await.map(|_| ())
}

async fn upload(
    c: &mut Clients,
    run_id: &str,
    path: &str,
    data: &[u8],
) -> Result<pb::Artifact, tonic::Status> {
    let mut messages = vec![pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Header(
            pb::UploadArtifactHeader {
                project: PROJECT.into(),
                run_id: run_id.into(),
                path: path.into(),
                expected_sha256: String::new(),
            },
        )),
    }];
    for chunk in data.chunks(1024 * 1024) {
        messages.push(pb::UploadArtifactRequest {
            part: Some(pb::upload_artifact_request::Part::Chunk(
                bytes::Bytes::copy_from_slice(chunk),
            )),
        });
    }
    messages.push(pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Commit(
            pb::UploadArtifactCommit {
                size: data.len() as u64,
            },
        )),
    });
    c.tracking
        .upload_artifact(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

async fn download(
    c: &mut Clients,
    run_id: &str,
    path: &str,
) -> Result<(pb::Artifact, Vec<u8>), tonic::Status> {
    let reference = pb::ArtifactRef {
        project: PROJECT.into(),
        run_id: run_id.into(),
        path: path.into(),
    };
    let mut stream = c.tracking.download_artifact(reference).await?.into_inner();
    let mut metadata = None;
    let mut data = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.part {
            Some(pb::download_artifact_response::Part::Metadata(m)) => metadata = Some(m),
            Some(pb::download_artifact_response::Part::Chunk(chunk)) => data.extend_from_slice(&chunk),
            None => {}
        }
    }
    Ok((metadata.expect("metadata first"), data))
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

async fn tracking_and_search(c: &mut Clients) -> (String, Vec<String>) {
    let experiment = c
        .tracking
        .create_experiment(pb::CreateExperimentRequest {
            project: PROJECT.into(),
            name: "churn-xgb".into(),
            tags: HashMap::from([("team".into(), "growth".into())]),
        })
        .await
        .unwrap()
        .into_inner();
    let duplicate = pb::CreateExperimentRequest {
        project: PROJECT.into(),
        name: "churn-xgb".into(),
        tags: HashMap::new(),
    };
    assert_eq!(
        c.tracking.create_experiment(duplicate).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    let exp = experiment.experiment_id.clone();

    let mut runs = Vec::new();
    for (name, accuracy, solver) in [("a", 0.95, "lbfgs"), ("b", 0.85, "lbfgs"), ("c", 0.97, "saga")] {
        let run = create_run(c, &exp, name).await;
        log(
            c,
            &run,
            vec![metric("accuracy", accuracy, 1, 1000)],
            vec![param("solver", solver)],
        )
        .await
        .unwrap();
        runs.push(run);
    }

    // The latest value is the highest step, then the latest timestamp; history keeps all.
    let first = &runs[0];
    log(
        c,
        first,
        vec![
            metric("loss", 0.5, 2, 2000),
            metric("loss", 0.9, 1, 9000),
            metric("loss", 0.4, 2, 3000),
        ],
        vec![],
    )
    .await
    .unwrap();
    log(c, first, vec![metric("loss", 0.7, 1, 10_000)], vec![])
        .await
        .unwrap();
    let run = c
        .tracking
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: first.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let loss = run.latest_metrics.iter().find(|m| m.key == "loss").unwrap();
    assert_eq!((loss.value, loss.step), (0.4, 2));
    assert_eq!(run.params["solver"], "lbfgs");
    // Params are write-once; the whole batch is refused and nothing of it is applied.
    let err = log(
        c,
        first,
        vec![metric("late", 1.0, 0, 1)],
        vec![param("solver", "saga")],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let run = c
        .tracking
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: first.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        run.latest_metrics.iter().all(|m| m.key != "late"),
        "a refused batch wrote a metric"
    );

    // History pages.
    let points: Vec<pb::Metric> = (0..250)
        .map(|i| metric("curve", f64::from(i), i64::from(i), 1))
        .collect();
    log(c, first, points, vec![]).await.unwrap();
    let mut seen = 0;
    let mut token = String::new();
    loop {
        let page = c
            .tracking
            .get_metric_history(pb::GetMetricHistoryRequest {
                project: PROJECT.into(),
                run_id: first.clone(),
                key: "curve".into(),
                page_size: 100,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        seen += page.metrics.len();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, 250);

    // Search: filter, order, pages.
    c.tracking
        .log_batch(pb::LogBatchRequest {
            project: PROJECT.into(),
            run_id: first.clone(),
            metrics: vec![],
            params: vec![],
            tags: vec![param("team", "growth")],
            delete_tags: vec![],
        })
        .await
        .unwrap();
    let search = |filter: &str, order: &[&str], page_size: u32, page_token: String| pb::SearchRunsRequest {
        project: PROJECT.into(),
        experiment_ids: vec![exp.clone()],
        filter: filter.into(),
        view: pb::ViewType::ActiveOnly as i32,
        order_by: order.iter().map(|o| (*o).to_owned()).collect(),
        page_size,
        page_token,
    };
    let found = c
        .tracking
        .search_runs(search(
            "metrics.accuracy > 0.9 and params.solver = 'lbfgs'",
            &[],
            0,
            String::new(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found.runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    // A found run carries its params, tags and latest metrics (in key order), as get-run does.
    let a = &found.runs[0];
    assert_eq!(
        a.params,
        HashMap::from([("solver".to_owned(), "lbfgs".to_owned())])
    );
    assert_eq!(a.tags, HashMap::from([("team".to_owned(), "growth".to_owned())]));
    assert_eq!(
        a.latest_metrics
            .iter()
            .map(|m| (m.key.as_str(), m.value, m.step, m.timestamp_ms))
            .collect::<Vec<_>>(),
        [
            ("accuracy", 0.95, 1, 1000),
            ("curve", 249.0, 249, 1),
            ("loss", 0.4, 2, 3000)
        ]
    );
    let mut ordered = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .tracking
            .search_runs(search(
                "metrics.accuracy >= 0.8",
                &["metrics.accuracy DESC"],
                1,
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        ordered.extend(page.runs.into_iter().map(|r| r.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(ordered, ["c", "a", "b"]);
    let names = c
        .tracking
        .search_runs(search(
            "params.solver IN ('saga', 'nope') and attributes.status = 'RUNNING'",
            &[],
            0,
            String::new(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names.runs.len(), 1);
    let err = c
        .tracking
        .search_runs(search("metrics.accuracy >> 0.9", &[], 0, String::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("character"), "{}", err.message());
    (exp, runs)
}

async fn artifacts(c: &mut Clients, t: &TestPlatform, run: &str) {
    // Larger than one multipart part, so S3 sees a real multipart upload.
    let data: Vec<u8> = (0..(12 * 1024 * 1024 + 123))
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let stored = upload(c, run, "model/weights.bin", &data).await.unwrap();
    assert_eq!(
        (stored.size, stored.sha256.clone()),
        (data.len() as u64, sha256_hex(&data))
    );
    upload(c, run, "model/MLmodel", b"flavor: sklearn\n")
        .await
        .unwrap();
    upload(c, run, "notes.txt", b"hello").await.unwrap();
    let (metadata, back) = download(c, run, "model/weights.bin").await.unwrap();
    assert_eq!(metadata.sha256, sha256_hex(&data));
    assert!(back == data, "downloaded bytes differ");

    let list = |path: &str| pb::ListArtifactsRequest {
        project: PROJECT.into(),
        run_id: run.into(),
        path: path.into(),
    };
    let root = c
        .tracking
        .list_artifacts(list(""))
        .await
        .unwrap()
        .into_inner()
        .artifacts;
    let entries: Vec<(String, bool)> = root.iter().map(|a| (a.path.clone(), a.is_dir)).collect();
    assert_eq!(
        entries,
        [("model".to_owned(), true), ("notes.txt".to_owned(), false)]
    );
    let model = c
        .tracking
        .list_artifacts(list("model"))
        .await
        .unwrap()
        .into_inner()
        .artifacts;
    assert_eq!(model.len(), 2);

    for bad in ["../escape", "/etc/passwd", "a/../../b"] {
        let err = upload(c, run, bad, b"x").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
    }
    assert_eq!(
        download(c, run, "missing.bin").await.unwrap_err().code(),
        Code::NotFound
    );

    // An upload cut off midway leaves nothing visible.
    let header = pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Header(
            pb::UploadArtifactHeader {
                project: PROJECT.into(),
                run_id: run.into(),
                path: "partial.bin".into(),
                expected_sha256: String::new(),
            },
        )),
    };
    let chunk = pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Chunk(bytes::Bytes::from(
            vec![7u8; 1024 * 1024],
        ))),
    };
    let endless = futures::stream::iter(vec![header, chunk.clone(), chunk]).chain(futures::stream::pending());
    let mut cut = c.tracking.clone();
    let attempt = tokio::time::timeout(Duration::from_millis(500), cut.upload_artifact(endless)).await;
    assert!(attempt.is_err(), "the endless upload cannot finish");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        download(c, run, "partial.bin").await.unwrap_err().code(),
        Code::NotFound
    );
    let store = t.registry_objects();
    let leftovers = objects_under(store.as_ref(), "").await;
    assert!(
        !leftovers.iter().any(|p| p.ends_with("partial.bin")),
        "half an upload is visible: {leftovers:?}"
    );

    // A stream that ends without its commit (a client gone midway) stores nothing.
    let uncommitted = vec![
        pb::UploadArtifactRequest {
            part: Some(pb::upload_artifact_request::Part::Header(
                pb::UploadArtifactHeader {
                    project: PROJECT.into(),
                    run_id: run.into(),
                    path: "uncommitted.bin".into(),
                    expected_sha256: String::new(),
                },
            )),
        },
        pb::UploadArtifactRequest {
            part: Some(pb::upload_artifact_request::Part::Chunk(bytes::Bytes::from(
                vec![1u8; 4096],
            ))),
        },
    ];
    let err = c
        .tracking
        .upload_artifact(futures::stream::iter(uncommitted))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        download(c, run, "uncommitted.bin").await.unwrap_err().code(),
        Code::NotFound
    );

    // A checksum the content does not match is refused.
    let mut messages = vec![pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Header(
            pb::UploadArtifactHeader {
                project: PROJECT.into(),
                run_id: run.into(),
                path: "checked.bin".into(),
                expected_sha256: sha256_hex(b"something else"),
            },
        )),
    }];
    messages.push(pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Chunk(
            bytes::Bytes::from_static(b"data"),
        )),
    });
    messages.push(pb::UploadArtifactRequest {
        part: Some(pb::upload_artifact_request::Part::Commit(
            pb::UploadArtifactCommit { size: 4 },
        )),
    });
    let err = c
        .tracking
        .upload_artifact(futures::stream::iter(messages))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

fn staging_gate() -> pb::PromotionPolicy {
    pb::PromotionPolicy {
        stage: pb::Stage::Staging as i32,
        conditions: vec![pb::GateCondition {
            condition: Some(pb::gate_condition::Condition::Metric(pb::MetricCondition {
                key: "accuracy".into(),
                op: ">=".into(),
                value: 0.9,
            })),
        }],
    }
}

async fn registry(c: &mut Clients, runs: &[String]) {
    let created = c
        .admin_models
        .create_model(pb::CreateModelRequest {
            project: PROJECT.into(),
            name: "churn-model".into(),
            description: "predicts churn".into(),
            policies: vec![staging_gate()],
            actor: actor("admin"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.policies.len(), 1);
    // Policies are for admins only.
    let by_editor = pb::CreateModelRequest {
        project: PROJECT.into(),
        name: "other".into(),
        policies: vec![staging_gate()],
        actor: actor("editor"),
        ..Default::default()
    };
    assert_eq!(
        c.models.create_model(by_editor).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    let version = |run: &str| pb::CreateModelVersionRequest {
        project: PROJECT.into(),
        model: "churn-model".into(),
        run_id: run.into(),
        artifact_path: "model".into(),
        signature: Some(pb::Signature {
            inputs: vec!["driver_stats:conv_rate".into()],
            output: "churn".into(),
            ..Default::default()
        }),
        lineage: Some(pb::Lineage {
            feature_views: vec!["driver_stats".into()],
            feature_service: "churn_v1".into(),
            training_dataset: "s3://data/train.parquet".into(),
            orchestrator_run: "retrain-42".into(),
        }),
        actor: actor("editor"),
        ..Default::default()
    };
    // Run a (accuracy 0.95) has the model files.
    let v1 = c
        .models
        .create_model_version(version(&runs[0]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((v1.version, v1.metrics["accuracy"]), (1, 0.95));
    assert_eq!(v1.artifact_sha256.len(), 64);
    assert_eq!(v1.created_by, "editor-user");
    // A run without model files cannot be registered, and its failed attempt burns no visible version.
    let err = c
        .models
        .create_model_version(version(&runs[1]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // Concurrent registrations get distinct numbers; numbers are never reused.
    let mut handles = Vec::new();
    for _ in 0..4 {
        let mut models = c.models.clone();
        let request = version(&runs[0]);
        handles.push(tokio::spawn(async move {
            models
                .create_model_version(request)
                .await
                .map(|v| v.into_inner().version)
        }));
    }
    let mut numbers = Vec::new();
    for handle in handles {
        numbers.push(handle.await.unwrap().unwrap());
    }
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 4, "{numbers:?}");
    assert!(
        numbers.iter().all(|n| *n > 2),
        "version 2 was taken by the failed attempt: {numbers:?}"
    );

    // Gates: run b's metrics are too low for Staging; run a's are fine.
    let stage = |version: u64, stage: pb::Stage, role: &str| pb::TransitionStageRequest {
        project: PROJECT.into(),
        model: "churn-model".into(),
        version,
        stage: stage as i32,
        archive_existing: true,
        reason: format!("promote v{version}"),
        actor: actor(role),
    };
    let staged = c
        .models
        .transition_stage(stage(1, pb::Stage::Staging, "editor"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(staged.stage, pb::Stage::Staging as i32);
    let err = c
        .models
        .transition_stage(stage(1, pb::Stage::Production, "editor"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("role 'admin'"), "{}", err.message());
    let prod = c
        .admin_models
        .transition_stage(stage(1, pb::Stage::Production, "admin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(prod.stage, pb::Stage::Production as i32);

    // Aliases move atomically and every move is audited.
    let alias = |version: u64| pb::SetAliasRequest {
        project: PROJECT.into(),
        model: "churn-model".into(),
        alias: "champion".into(),
        version,
        reason: "best so far".into(),
        actor: actor("editor"),
    };
    c.models.set_alias(alias(1)).await.unwrap();
    c.models.set_alias(alias(numbers[0])).await.unwrap();
    let by_alias = pb::AliasRef {
        project: PROJECT.into(),
        model: "churn-model".into(),
        alias: "champion".into(),
    };
    let champion = c
        .models
        .get_version_by_alias(by_alias.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (champion.version, champion.aliases),
        (numbers[0], vec!["champion".to_owned()])
    );
    let version_ref = |version: u64| pb::ModelVersionRef {
        project: PROJECT.into(),
        model: "churn-model".into(),
        version,
    };
    let by_number = c
        .models
        .get_model_version(version_ref(numbers[0]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (by_number.version, by_number.aliases),
        (numbers[0], vec!["champion".to_owned()])
    );
    let missing = c.models.get_model_version(version_ref(9_999)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("9999"), "{missing:?}");
    let reserved = pb::SetAliasRequest {
        alias: "latest".into(),
        ..alias(1)
    };
    assert_eq!(
        c.models.set_alias(reserved).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let model = c
        .models
        .get_model(pb::ModelRef {
            project: PROJECT.into(),
            name: "churn-model".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(model.aliases["champion"], numbers[0]);
    let latest: Vec<(i32, u64)> = model
        .latest_versions
        .iter()
        .map(|v| (v.stage, v.version))
        .collect();
    assert!(latest.contains(&(pb::Stage::Production as i32, 1)), "{latest:?}");
    assert!(
        latest.contains(&(pb::Stage::None as i32, numbers[3])),
        "{latest:?}"
    );

    let audit = c
        .models
        .list_audit_events(pb::ListAuditEventsRequest {
            project: PROJECT.into(),
            model: "churn-model".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let summary: Vec<(&str, &str, &str, &str)> = audit
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.from.as_str(),
                e.to.as_str(),
                e.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "alias_set",
                "champion@v1",
                &*format!("champion@v{}", numbers[0]),
                "editor-user"
            ),
            ("alias_set", "", "champion@v1", "editor-user"),
            ("stage_transition", "Staging", "Production", "admin-user"),
            ("stage_transition", "None", "Staging", "editor-user"),
        ]
    );
    assert_eq!(audit[3].reason, "promote v1");

    // A version with two aliases lists both, by name, whichever way it is read; one with
    // none lists none.
    let blessed = pb::SetAliasRequest {
        alias: "blessed".into(),
        ..alias(numbers[0])
    };
    c.models.set_alias(blessed).await.unwrap();
    let both = ["blessed".to_owned(), "champion".to_owned()];
    let by_number = c
        .models
        .get_model_version(version_ref(numbers[0]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_number.aliases, both);
    let by_alias = c
        .models
        .get_version_by_alias(by_alias.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((by_alias.version, by_alias.aliases), (numbers[0], both.to_vec()));
    let plain = c
        .models
        .get_model_version(version_ref(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((plain.version, plain.aliases), (1, Vec::<String>::new()));

    // Lineage both ways.
    let found = c
        .models
        .find_versions_by_lineage(pb::FindVersionsByLineageRequest {
            project: PROJECT.into(),
            feature_view: "driver_stats".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(found.len(), 5);
    assert_eq!(found[0].lineage.as_ref().unwrap().orchestrator_run, "retrain-42");
    // In version order, each as a read of the version by number gives it (aliases included).
    let numbers_found: Vec<u64> = found.iter().map(|v| v.version).collect();
    let mut all_numbers = vec![1];
    all_numbers.extend(&numbers);
    assert_eq!(numbers_found, all_numbers);
    assert!(found.iter().any(|v| v.aliases.contains(&"champion".to_owned())));
    for v in &found {
        let read = c
            .models
            .get_model_version(version_ref(v.version))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v, &read);
    }
    let none = pb::FindVersionsByLineageRequest {
        project: PROJECT.into(),
        feature_view: "nope".into(),
        ..Default::default()
    };
    assert!(
        c.models
            .find_versions_by_lineage(none)
            .await
            .unwrap()
            .into_inner()
            .versions
            .is_empty()
    );

    // A version's artifact and signature are immutable: updates touch description and tags only.
    let updated = c
        .models
        .update_model_version(pb::UpdateModelVersionRequest {
            project: PROJECT.into(),
            model: "churn-model".into(),
            version: 1,
            description: Some("first".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.artifact_sha256, updated.signature),
        (v1.artifact_sha256, v1.signature)
    );
}

/// A page of models reads each model's aliases and newest version per stage in batch: every
/// listed model must equal what `get_model` returns for it, across pages.
async fn list_models_agrees_with_get_model(c: &mut Clients, runs: &[String]) {
    for name in ["second-model", "empty-model"] {
        c.models
            .create_model(pb::CreateModelRequest {
                project: PROJECT.into(),
                name: name.into(),
                actor: actor("editor"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for _ in 0..2 {
        c.models
            .create_model_version(pb::CreateModelVersionRequest {
                project: PROJECT.into(),
                model: "second-model".into(),
                run_id: runs[0].clone(),
                artifact_path: "model".into(),
                actor: actor("editor"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    c.models
        .transition_stage(pb::TransitionStageRequest {
            project: PROJECT.into(),
            model: "second-model".into(),
            version: 1,
            stage: pb::Stage::Staging as i32,
            reason: "try it".into(),
            actor: actor("editor"),
            ..Default::default()
        })
        .await
        .unwrap();
    for (alias, version) in [("challenger", 2), ("baseline", 1)] {
        c.models
            .set_alias(pb::SetAliasRequest {
                project: PROJECT.into(),
                model: "second-model".into(),
                alias: alias.into(),
                version,
                reason: "compare".into(),
                actor: actor("editor"),
            })
            .await
            .unwrap();
    }

    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .models
            .list_models(pb::ListModelsRequest {
                project: PROJECT.into(),
                page_size: 2,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.models.len() <= 2);
        listed.extend(page.models);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["churn-model", "second-model", "empty-model"]);
    for model in &listed {
        let got = c
            .models
            .get_model(pb::ModelRef {
                project: PROJECT.into(),
                name: model.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(model, &got, "list_models and get_model differ for {}", model.name);
    }
    let second = &listed[1];
    let latest: Vec<(i32, u64, Vec<String>)> = second
        .latest_versions
        .iter()
        .map(|v| (v.stage, v.version, v.aliases.clone()))
        .collect();
    assert_eq!(
        latest,
        [
            (pb::Stage::Staging as i32, 1, vec!["baseline".to_owned()]),
            (pb::Stage::None as i32, 2, vec!["challenger".to_owned()]),
        ]
    );
    assert_eq!(
        (
            second.aliases["challenger"],
            second.aliases["baseline"],
            second.aliases.len()
        ),
        (2, 1, 2)
    );
    assert!(listed[2].latest_versions.is_empty() && listed[2].aliases.is_empty());
    assert!(!listed[0].latest_versions.is_empty() && !listed[0].aliases.is_empty());
    for name in ["second-model", "empty-model"] {
        c.admin_models
            .delete_model(pb::ModelRef {
                project: PROJECT.into(),
                name: name.into(),
            })
            .await
            .unwrap();
    }
}

async fn gate_refuses_low_metrics(c: &mut Clients, exp: &str) {
    let low = create_run(c, exp, "low").await;
    log(c, &low, vec![metric("accuracy", 0.5, 0, 1)], vec![])
        .await
        .unwrap();
    upload(c, &low, "model/model.bin", b"weights").await.unwrap();
    let v = c
        .models
        .create_model_version(pb::CreateModelVersionRequest {
            project: PROJECT.into(),
            model: "churn-model".into(),
            run_id: low,
            artifact_path: "model".into(),
            actor: actor("editor"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = c
        .admin_models
        .transition_stage(pb::TransitionStageRequest {
            project: PROJECT.into(),
            model: "churn-model".into(),
            version: v.version,
            stage: pb::Stage::Staging as i32,
            actor: actor("admin"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("metrics.accuracy >= 0.9 (is 0.5)"),
        "{}",
        err.message()
    );
}

async fn deletion_leaves_no_orphans(c: &mut Clients, t: &TestPlatform, run: &str) {
    let store = t.registry_objects();
    let run_info = c
        .tracking
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let run_prefix = format!("experiments/{}/runs/{run}", run_info.experiment_id);
    assert!(!objects_under(store.as_ref(), &run_prefix).await.is_empty());
    c.tracking
        .delete_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.into(),
        })
        .await
        .unwrap();
    assert_eq!(
        c.tracking
            .get_run(pb::RunRef {
                project: PROJECT.into(),
                run_id: run.into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let model = c
        .models
        .get_model(pb::ModelRef {
            project: PROJECT.into(),
            name: "churn-model".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!model.latest_versions.is_empty());
    // The versions keep their own copies after the run is gone.
    c.admin_models
        .delete_model(pb::ModelRef {
            project: PROJECT.into(),
            name: "churn-model".into(),
        })
        .await
        .unwrap();
    for _ in 0..100 {
        let run_left = objects_under(store.as_ref(), &run_prefix).await;
        let models_left = objects_under(store.as_ref(), "models").await;
        if run_left.is_empty() && models_left.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("artifacts of deleted runs/models were not removed");
}

/// Concurrent batches into one run, with the same keys in different orders, all succeed
/// (on PostgreSQL, rows locked in different orders would deadlock).
async fn concurrent_batches(c: &mut Clients, exp: &str) {
    let run = create_run(c, exp, "busy").await;
    let mut handles = Vec::new();
    for writer in 0..8i64 {
        let mut tracking = c.tracking.clone();
        let run = run.clone();
        handles.push(tokio::spawn(async move {
            let mut metrics: Vec<pb::Metric> = (0..100)
                .map(|k| metric(&format!("m{k:03}"), (writer * 1000 + k) as f64, writer, 1))
                .collect();
            if writer % 2 == 1 {
                metrics.reverse();
            }
            let tags = (0..20)
                .map(|k| param(&format!("t{k:02}"), &writer.to_string()))
                .collect();
            let request = pb::LogBatchRequest {
                project: PROJECT.into(),
                run_id: run,
                metrics,
                params: vec![],
                tags,
                delete_tags: vec![],
            };
            tracking.log_batch(request).await.map(|_| ())
        }));
    }
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    let got = c
        .tracking
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.latest_metrics.len(), 100);
    // The highest step (writer 7) wins every key.
    assert!(
        got.latest_metrics.iter().all(|m| m.step == 7),
        "{:?}",
        got.latest_metrics.first()
    );
}

async fn scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let mut c = clients(&t).await;
    let (exp, runs) = tracking_and_search(&mut c).await;
    artifacts(&mut c, &t, &runs[0]).await;
    registry(&mut c, &runs).await;
    list_models_agrees_with_get_model(&mut c, &runs).await;
    gate_refuses_low_metrics(&mut c, &exp).await;
    concurrent_batches(&mut c, &exp).await;
    deletion_leaves_no_orphans(&mut c, &t, &runs[0]).await;
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn registry_on_sqlite_and_local_files() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn registry_on_postgres_and_s3() {
    scenario(Backend::Production).await;
}

/// A search at every limit runs on the backend; one far past them is refused, and the
/// service keeps serving.
async fn search_limits(backend: Backend) {
    use lathe_registry_service::api::search::MAX_EXPERIMENT_IDS;
    use lathe_registry_service::domain::filter::MAX_ORDER_BY_CLAUSES;
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let mut c = clients(&t).await;
    let exp = c
        .tracking
        .create_experiment(pb::CreateExperimentRequest {
            project: PROJECT.into(),
            name: "limits".into(),
            tags: HashMap::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    let mut runs = Vec::new();
    for (name, accuracy) in [("kept", 0.9), ("dropped", 0.3)] {
        let run = create_run(&mut c, &exp, name).await;
        log(
            &mut c,
            &run,
            vec![metric("accuracy", accuracy, 1, 1000)],
            vec![param("solver", "lbfgs")],
        )
        .await
        .unwrap();
        runs.push(run);
    }
    let search = |filter: String, experiment_ids: Vec<String>| pb::SearchRunsRequest {
        project: PROJECT.into(),
        experiment_ids,
        filter,
        view: pb::ViewType::ActiveOnly as i32,
        order_by: (0..MAX_ORDER_BY_CLAUSES)
            .map(|i| format!("metrics.m{i} DESC"))
            .collect(),
        page_size: 0,
        page_token: String::new(),
    };
    let experiment_ids: Vec<String> = std::iter::once(exp.clone())
        .chain((1..MAX_EXPERIMENT_IDS).map(|i| (1_000_000 + i).to_string()))
        .collect();
    let found = c
        .tracking
        .search_runs(search(lathe_tests::filter_at_the_limits(), experiment_ids))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found.runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        [runs[0].as_str()]
    );

    let huge = vec!["metrics.accuracy > 0"; 15_000].join(" and ");
    let err = c
        .tracking
        .search_runs(search(huge, vec![exp.clone()]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message()
            .contains("at most 100000 characters long; this one has 374995"),
        "{}",
        err.message()
    );
    let found = c
        .tracking
        .search_runs(search("metrics.accuracy > 0.5".into(), vec![exp]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.runs.len(), 1);
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn registry_search_limits_on_sqlite() {
    search_limits(Backend::Embedded).await;
}

#[tokio::test]
async fn registry_search_limits_on_postgres() {
    search_limits(Backend::Production).await;
}

/// A page sorted by one metric (read along the metric's index when it can be) holds the same
/// runs as a sort of them all: values in order, ties by run id ascending, then the runs
/// without the value or with NaN by run id; every run once, whatever the page size, filter
/// or direction.
async fn metric_order_pages(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let mut c = clients(&t).await;
    let experiment = |name: &'static str| {
        let mut tracking = c.tracking.clone();
        async move {
            tracking
                .create_experiment(pb::CreateExperimentRequest {
                    project: PROJECT.into(),
                    name: name.into(),
                    tags: HashMap::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .experiment_id
        }
    };
    let (sorted, other) = (experiment("sorted").await, experiment("other").await);
    // (run id, accuracy when logged and not NaN, group param) of the sorted experiment.
    let mut runs: Vec<(String, Option<f64>, u32)> = Vec::new();
    for i in 0..420u32 {
        let run = create_run(&mut c, &sorted, &format!("run-{i}")).await;
        // 23 distinct values, so many runs share one.
        let value = f64::from((i * 37) % 23) / 23.0;
        let (metrics, accuracy) = match i % 10 {
            0 => (vec![metric("loss", 1.0, 1, 1000)], None),
            1 => (vec![metric("accuracy", f64::NAN, 1, 1000)], None),
            _ => (vec![metric("accuracy", value, 1, 1000)], Some(value)),
        };
        let group = i % 3;
        log(&mut c, &run, metrics, vec![param("group", &group.to_string())])
            .await
            .unwrap();
        runs.push((run, accuracy, group));
    }
    // Runs of another experiment share the metric's index but are never selected.
    for i in 0..60u32 {
        let run = create_run(&mut c, &other, &format!("other-{i}")).await;
        log(
            &mut c,
            &run,
            vec![metric("accuracy", f64::from(i % 7) / 7.0, 1, 1000)],
            vec![],
        )
        .await
        .unwrap();
    }

    type Keep = fn(&(String, Option<f64>, u32)) -> bool;
    let filters: [(&str, Keep); 3] = [
        ("", |_| true),
        ("params.group = '1'", |r| r.2 == 1),
        ("metrics.accuracy > 0.3", |r| r.1.is_some_and(|v| v > 0.3)),
    ];
    for descending in [false, true] {
        for (filter, keep) in filters {
            let mut expected: Vec<_> = runs.iter().filter(|r| keep(r)).collect();
            expected.sort_by(|a, b| match (a.1, b.1) {
                (Some(x), Some(y)) => {
                    let by_value = if descending {
                        y.total_cmp(&x)
                    } else {
                        x.total_cmp(&y)
                    };
                    by_value.then_with(|| a.0.cmp(&b.0))
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.0.cmp(&b.0),
            });
            let expected: Vec<&str> = expected.iter().map(|r| r.0.as_str()).collect();
            let direction = if descending { "DESC" } else { "ASC" };
            for page_size in [1, 7, 50] {
                let (mut found, mut token, mut pages) = (Vec::new(), String::new(), 0);
                loop {
                    let page = c
                        .tracking
                        .search_runs(pb::SearchRunsRequest {
                            project: PROJECT.into(),
                            experiment_ids: vec![sorted.clone()],
                            filter: filter.into(),
                            view: pb::ViewType::ActiveOnly as i32,
                            order_by: vec![format!("metrics.accuracy {direction}")],
                            page_size,
                            page_token: token,
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    pages += 1;
                    assert!(page.runs.len() <= page_size as usize);
                    found.extend(page.runs.into_iter().map(|r| r.run_id));
                    token = page.next_page_token;
                    if token.is_empty() {
                        break;
                    }
                }
                assert_eq!(
                    found, expected,
                    "{direction}, filter {filter:?}, pages of {page_size} ({pages} pages)"
                );
            }
        }
    }
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn registry_metric_order_pages_on_sqlite() {
    metric_order_pages(Backend::Embedded).await;
}

#[tokio::test]
async fn registry_metric_order_pages_on_postgres() {
    metric_order_pages(Backend::Production).await;
}
