//! The registry-service's logged models over gRPC, on SQLite + local files and on PostgreSQL +
//! the real S3-compatible server: create, files streamed in and out, finalize, tags, search,
//! run outputs, a version registered from a logged model (its files, run, metrics and source),
//! the version's own files, roles, and deletion.

use std::time::Duration;

use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::logged_model_service_client::LoggedModelServiceClient;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use lathe_contract::registry::v1::tracking_service_client::TrackingServiceClient;
use lathe_tests::{Backend, GrpcChannel, TestPlatform, TokenRole, objects_under};
use tonic::Code;

const PROJECT: &str = "churn";

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Three MiB and a bit, so uploads and downloads take several chunks.
fn large_file() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 777)
        .map(|i: usize| u8::try_from((i * 13 + 5) % 251).expect("below 251"))
        .collect()
}

async fn upload(
    client: &mut LoggedModelServiceClient<GrpcChannel>,
    model_id: &str,
    path: &str,
    data: &[u8],
) -> Result<pb::Artifact, tonic::Status> {
    use pb::upload_logged_model_artifact_request::Part;
    let mut messages = vec![pb::UploadLoggedModelArtifactRequest {
        part: Some(Part::Header(pb::LoggedModelArtifactHeader {
            project: PROJECT.into(),
            model_id: model_id.into(),
            path: path.into(),
            expected_sha256: String::new(),
        })),
    }];
    for chunk in data.chunks(1024 * 1024) {
        messages.push(pb::UploadLoggedModelArtifactRequest {
            part: Some(Part::Chunk(bytes::Bytes::copy_from_slice(chunk))),
        });
    }
    messages.push(pb::UploadLoggedModelArtifactRequest {
        part: Some(Part::Commit(pb::UploadArtifactCommit {
            size: data.len() as u64,
        })),
    });
    client
        .upload_logged_model_artifact(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

async fn collect(
    mut stream: tonic::Streaming<pb::DownloadArtifactResponse>,
) -> Result<(pb::Artifact, Vec<u8>), tonic::Status> {
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

fn paths(listed: pb::ListArtifactsResponse) -> Vec<(String, bool)> {
    listed.artifacts.into_iter().map(|a| (a.path, a.is_dir)).collect()
}

async fn scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    t.create_project("other").await;
    let editor = t
        .grpc_channel("registry", &t.token_of("editor-user", TokenRole::Editor))
        .await;
    let viewer = t
        .grpc_channel("registry", &t.token_of("viewer-user", TokenRole::Viewer))
        .await;
    let mut tracking = TrackingServiceClient::new(editor.clone());
    let mut logged = LoggedModelServiceClient::new(editor.clone());
    let mut models = ModelRegistryServiceClient::new(editor);
    let mut viewer_logged = LoggedModelServiceClient::new(viewer);

    let experiment = tracking
        .create_experiment(pb::CreateExperimentRequest {
            project: PROJECT.into(),
            name: "churn-logged".into(),
            tags: Default::default(),
        })
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    let run = tracking
        .create_run(pb::CreateRunRequest {
            project: PROJECT.into(),
            experiment_id: experiment.clone(),
            name: "train".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .run_id;
    tracking
        .log_batch(pb::LogBatchRequest {
            project: PROJECT.into(),
            run_id: run.clone(),
            metrics: vec![pb::Metric {
                key: "acc".into(),
                value: 0.93,
                timestamp_ms: 1,
                step: 0,
            }],
            params: vec![],
            tags: vec![],
            delete_tags: vec![],
        })
        .await
        .unwrap();

    // Create: pending, with an id of MLflow's form, its params and tags.
    let create = |name: &str, run: &str| pb::CreateLoggedModelRequest {
        project: PROJECT.into(),
        experiment_id: experiment.clone(),
        name: name.into(),
        source_run_id: run.into(),
        model_type: "sklearn".into(),
        params: [("C".to_owned(), "0.5".to_owned())].into(),
        tags: [("team".to_owned(), "growth".to_owned())].into(),
    };
    let model = logged
        .create_logged_model(create("model", &run))
        .await
        .unwrap()
        .into_inner();
    assert!(
        model.model_id.starts_with("m-") && model.model_id.len() == 34,
        "{}",
        model.model_id
    );
    assert!(model.model_id[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(model.status, pb::LoggedModelStatus::Pending as i32);
    assert_eq!(model.source_run_id, run);
    assert_eq!(model.params["C"], "0.5");
    assert!(model.create_time_ms > 0);
    let id = model.model_id.clone();
    let reference = |id: &str| pb::LoggedModelRef {
        project: PROJECT.into(),
        model_id: id.into(),
    };
    assert_eq!(
        viewer_logged
            .get_logged_model(reference(&id))
            .await
            .unwrap()
            .into_inner()
            .name,
        "model"
    );
    // Roles as for runs: a viewer reads, only an editor writes.
    assert_eq!(
        viewer_logged
            .create_logged_model(create("model", &run))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // Another project does not see it; an unknown id is not found; a bad experiment neither.
    let other = pb::LoggedModelRef {
        project: "other".into(),
        model_id: id.clone(),
    };
    let other_project = t
        .grpc_channel("registry", &t.token_of("editor-user", TokenRole::Editor))
        .await;
    assert_eq!(
        LoggedModelServiceClient::new(other_project)
            .get_logged_model(other)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        logged
            .get_logged_model(reference("m-0000"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let mut bad = create("model", "");
    bad.experiment_id = "999999".into();
    assert_eq!(
        logged.create_logged_model(bad).await.unwrap_err().code(),
        Code::NotFound
    );

    // Its files: uploaded, listed, downloaded byte-identical.
    let large = large_file();
    let mlmodel = b"flavors:\n  sklearn: {}\n".to_vec();
    upload(&mut logged, &id, "MLmodel", &mlmodel).await.unwrap();
    let stored = upload(&mut logged, &id, "data/model.pkl", &large).await.unwrap();
    assert_eq!(stored.sha256, sha256_hex(&large));
    let listed = |path: &str| pb::LoggedModelArtifactRef {
        project: PROJECT.into(),
        model_id: id.clone(),
        path: path.into(),
    };
    assert_eq!(
        paths(
            logged
                .list_logged_model_artifacts(listed(""))
                .await
                .unwrap()
                .into_inner()
        ),
        vec![("MLmodel".to_owned(), false), ("data".to_owned(), true)]
    );
    assert_eq!(
        paths(
            logged
                .list_logged_model_artifacts(listed("data"))
                .await
                .unwrap()
                .into_inner()
        ),
        vec![("data/model.pkl".to_owned(), false)]
    );
    let (meta, data) = collect(
        logged
            .download_logged_model_artifact(listed("data/model.pkl"))
            .await
            .unwrap()
            .into_inner(),
    )
    .await
    .unwrap();
    assert_eq!(
        (meta.size, sha256_hex(&data)),
        (large.len() as u64, sha256_hex(&large))
    );
    let missing = match logged.download_logged_model_artifact(listed("nope")).await {
        Ok(stream) => collect(stream.into_inner()).await.unwrap_err().code(),
        Err(status) => status.code(),
    };
    assert_eq!(missing, Code::NotFound);
    assert_eq!(
        upload(&mut logged, &id, "../escape", b"x")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    // The files lie under the experiment, in the model's own tree.
    let store = t.registry_objects();
    let prefix = format!("experiments/{experiment}/models/{id}/artifacts");
    assert_eq!(objects_under(store.as_ref(), &prefix).await.len(), 2);

    // Finalize, tags.
    let ready = logged
        .finalize_logged_model(pb::FinalizeLoggedModelRequest {
            project: PROJECT.into(),
            model_id: id.clone(),
            status: pb::LoggedModelStatus::Ready as i32,
            status_message: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ready.status, pb::LoggedModelStatus::Ready as i32);
    assert!(ready.update_time_ms >= ready.create_time_ms);
    let tagged = logged
        .set_logged_model_tags(pb::SetLoggedModelTagsRequest {
            project: PROJECT.into(),
            model_id: id.clone(),
            tags: [("stage".to_owned(), "prod".to_owned())].into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tagged.tags.len(), 2);
    let delete_tag = |key: &str| pb::DeleteLoggedModelTagRequest {
        project: PROJECT.into(),
        model_id: id.clone(),
        key: key.into(),
    };
    let untagged = logged
        .delete_logged_model_tag(delete_tag("team"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(untagged.tags.keys().collect::<Vec<_>>(), vec!["stage"]);
    assert_eq!(
        logged
            .delete_logged_model_tag(delete_tag("team"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // More logged models to search among: another name, and one in another experiment.
    let plots = logged
        .create_logged_model(create("plots", ""))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let third = logged
        .create_logged_model(create("model-b", &run))
        .await
        .unwrap()
        .into_inner();
    let search =
        |filter: &str, order_by: &[&str], page_size: u32, page_token: &str| pb::SearchLoggedModelsRequest {
            project: PROJECT.into(),
            experiment_ids: vec![experiment.clone()],
            filter: filter.into(),
            order_by: order_by.iter().map(|o| (*o).to_owned()).collect(),
            page_size,
            page_token: page_token.into(),
        };
    let names = |response: pb::SearchLoggedModelsResponse| {
        response.models.into_iter().map(|m| m.name).collect::<Vec<_>>()
    };
    let found = logged
        .search_logged_models(search("name = 'plots'", &[], 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.models.len(), 1);
    assert_eq!(found.models[0].model_id, plots.model_id);
    assert_eq!(
        names(
            logged
                .search_logged_models(search("tags.stage = 'prod'", &[], 0, ""))
                .await
                .unwrap()
                .into_inner()
        ),
        vec!["model"]
    );
    assert_eq!(
        names(
            logged
                .search_logged_models(search("name LIKE 'model%' and status = 'PENDING'", &[], 0, ""))
                .await
                .unwrap()
                .into_inner()
        ),
        vec!["model-b"]
    );
    assert_eq!(
        names(
            logged
                .search_logged_models(search("", &["name ASC"], 0, ""))
                .await
                .unwrap()
                .into_inner()
        ),
        vec!["model", "model-b", "plots"]
    );
    // Pages of two, in the default order (newest first).
    let first = logged
        .search_logged_models(search("", &[], 2, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.models.len(), 2);
    assert_eq!(first.models[0].model_id, third.model_id);
    let second = logged
        .search_logged_models(search("", &[], 2, &first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((second.models.len(), second.next_page_token.as_str()), (1, ""));
    assert_eq!(
        logged
            .search_logged_models(search("name = 'a' or name = 'b'", &[], 0, ""))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    // Run outputs: recorded once, answered in the run.
    let outputs = pb::LogRunOutputsRequest {
        project: PROJECT.into(),
        run_id: run.clone(),
        models: vec![pb::RunModelOutput {
            model_id: id.clone(),
            step: 0,
        }],
    };
    logged.log_run_outputs(outputs.clone()).await.unwrap();
    logged.log_run_outputs(outputs).await.unwrap();
    let got = tracking
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.model_outputs,
        vec![pb::RunModelOutput {
            model_id: id.clone(),
            step: 0
        }]
    );
    let unknown_output = pb::LogRunOutputsRequest {
        project: PROJECT.into(),
        run_id: run.clone(),
        models: vec![pb::RunModelOutput {
            model_id: "m-0000".into(),
            step: 0,
        }],
    };
    assert_eq!(
        logged.log_run_outputs(unknown_output).await.unwrap_err().code(),
        Code::NotFound
    );

    // A version from the logged model: its files, its source run and metrics, its source.
    models
        .create_model(pb::CreateModelRequest {
            project: PROJECT.into(),
            name: "churn-clf".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let version = models
        .create_model_version(pb::CreateModelVersionRequest {
            project: PROJECT.into(),
            model: "churn-clf".into(),
            logged_model_id: id.clone(),
            source: format!("models:/{id}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.run_id, run);
    assert_eq!(version.source, format!("models:/{id}"));
    assert_eq!(version.logged_model_id, id);
    assert_eq!(version.metrics["acc"], 0.93);
    // Without a source given, a run's version names where it came from.
    tracking
        .upload_artifact(futures::stream::iter(vec![
            pb::UploadArtifactRequest {
                part: Some(pb::upload_artifact_request::Part::Header(
                    pb::UploadArtifactHeader {
                        project: PROJECT.into(),
                        run_id: run.clone(),
                        path: "model/MLmodel".into(),
                        expected_sha256: String::new(),
                    },
                )),
            },
            pb::UploadArtifactRequest {
                part: Some(pb::upload_artifact_request::Part::Chunk(
                    bytes::Bytes::from_static(b"m"),
                )),
            },
            pb::UploadArtifactRequest {
                part: Some(pb::upload_artifact_request::Part::Commit(
                    pb::UploadArtifactCommit { size: 1 },
                )),
            },
        ]))
        .await
        .unwrap();
    let from_run = models
        .create_model_version(pb::CreateModelVersionRequest {
            project: PROJECT.into(),
            model: "churn-clf".into(),
            run_id: run.clone(),
            artifact_path: "model".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(from_run.source, format!("runs:/{run}/model"));
    assert_eq!(from_run.logged_model_id, "");
    // A logged model without files cannot be versioned.
    let empty = models
        .create_model_version(pb::CreateModelVersionRequest {
            project: PROJECT.into(),
            model: "churn-clf".into(),
            logged_model_id: plots.model_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::FailedPrecondition);

    // The version's own files: listed and downloaded, by any reader.
    let version_ref = |path: &str| pb::ModelVersionArtifactRef {
        project: PROJECT.into(),
        model: "churn-clf".into(),
        version: version.version,
        path: path.into(),
    };
    assert_eq!(
        paths(
            viewer_logged
                .list_model_version_artifacts(version_ref(""))
                .await
                .unwrap()
                .into_inner()
        ),
        vec![("MLmodel".to_owned(), false), ("data".to_owned(), true)]
    );
    let listed_dir = viewer_logged
        .list_model_version_artifacts(version_ref("data"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed_dir.artifacts[0].size, large.len() as u64);
    let run_version_files = logged
        .list_model_version_artifacts(pb::ModelVersionArtifactRef {
            version: from_run.version,
            ..version_ref("")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paths(run_version_files), vec![("model".to_owned(), true)]);

    // Deleting the logged model removes its files; the version keeps its copy.
    logged.delete_logged_model(reference(&id)).await.unwrap();
    assert_eq!(
        logged.get_logged_model(reference(&id)).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut gone = false;
    for _ in 0..100 {
        if objects_under(store.as_ref(), &prefix).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the deleted logged model's files were not removed");
    let (_, copy) = collect(
        viewer_logged
            .download_model_version_artifact(version_ref("data/model.pkl"))
            .await
            .unwrap()
            .into_inner(),
    )
    .await
    .unwrap();
    assert_eq!(sha256_hex(&copy), sha256_hex(&large));
    let missing = match viewer_logged
        .download_model_version_artifact(version_ref("nope"))
        .await
    {
        Ok(stream) => collect(stream.into_inner()).await.unwrap_err().code(),
        Err(status) => status.code(),
    };
    assert_eq!(missing, Code::NotFound);
    let run_after = tracking
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        run_after.model_outputs.is_empty(),
        "{:?}",
        run_after.model_outputs
    );

    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn logged_models_on_sqlite_and_local_files() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn logged_models_on_postgres_and_s3() {
    scenario(Backend::Production).await;
}
